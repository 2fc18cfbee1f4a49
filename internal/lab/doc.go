// Package lab turns this machine into a small fleet of real Debian hosts for
// end-to-end tests: a cached debootstrap base image (bookworm, deliberately
// old), hosts as overlayfs copies of it in their own network, mount, PID and
// UTS namespaces, an apt repository served by the lab (the real pending
// Debian updates plus packages a test publishes), reboots, network cuts,
// and a teardown that leaves nothing behind.
//
// Everything needs root. Lab addresses live only inside namespaces the lab
// creates: the server namespace holds a bridge with 169.254.77.1/16, hosts
// get 169.254.78.N/16 and no default route, so they reach 169.254.77.1 and
// nothing else. Nothing is ever configured in the root network namespace.
//
// A test calls CleanStale, then New or Up, and defers Close. docs/testing.md
// describes the layout and the measured costs.
package lab
