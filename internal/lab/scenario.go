package lab

import "fmt"

// Packages for the scenarios the lab drives. Each is a plain DebSpec, so a
// test can change any field before publishing it.

// DemoApp is version of demo-app: a script /usr/bin/demo-app that prints
// its version, and /usr/share/demo-app/VERSION. Publish "1.0-1", install,
// publish "1.0-2" and the host has an update.
func DemoApp(version string) DebSpec {
	return DebSpec{
		Name:    "demo-app",
		Version: version,
		Files: map[string]string{
			"/usr/bin/demo-app":           "#!/bin/sh\necho demo-app " + version + "\n",
			"/usr/share/demo-app/VERSION": version + "\n",
		},
		Description: "Patchbay lab demo application",
	}
}

// FailingPostinst is a package whose postinst fails: dpkg leaves it
// half-configured ("iF") and apt-get exits 100.
func FailingPostinst(name, version string) DebSpec {
	return DebSpec{
		Name:     name,
		Version:  version,
		Postinst: "echo \"" + name + ": postinst fails on purpose\" >&2\nexit 1\n",
		Files:    map[string]string{"/usr/share/" + name + "/VERSION": version + "\n"},
	}
}

// RebootRequired is a package whose postinst asks for a reboot the way
// Debian's reboot-notifier and Ubuntu's update-notifier do: it writes
// /var/run/reboot-required and adds its name to reboot-required.pkgs. A
// reboot clears both (they are on /run).
func RebootRequired(name, version string) DebSpec {
	return DebSpec{
		Name:    name,
		Version: version,
		Postinst: "if [ \"$1\" = configure ]; then\n" +
			"\techo '*** System restart required ***' >/var/run/reboot-required\n" +
			"\techo " + name + " >>/var/run/reboot-required.pkgs\n" +
			"fi\n",
		Files: map[string]string{"/usr/share/" + name + "/VERSION": version + "\n"},
	}
}

// ConffilePath is where WithConffile puts its conffile.
func ConffilePath(name string) string { return "/etc/" + name + ".conf" }

// WithConffile is a package with one conffile, ConffilePath(name), whose
// content names the version. Modify it in a host with Host.WriteFile, then
// upgrade, to see dpkg keep (or ask about) the local change.
func WithConffile(name, version string) DebSpec {
	return DebSpec{
		Name:      name,
		Version:   version,
		Conffiles: map[string]string{ConffilePath(name): fmt.Sprintf("# %s %s\nsetting = %s\n", name, version, version)},
	}
}

// HoldPath is the file that keeps the postinst of BlockingPostinst(name, …)
// waiting while it exists.
func HoldPath(name string) string { return "/var/tmp/" + name + ".hold" }

// BlockingPostinst is a package whose postinst waits while HoldPath(name)
// exists in the host: a test creates the file, starts the install, and has
// dpkg busy for as long as it likes, e.g. to kill -9 it mid-install
// (Host.KillProcess(ctx, "dpkg")), then removes the file.
func BlockingPostinst(name, version string) DebSpec {
	return DebSpec{
		Name:     name,
		Version:  version,
		Postinst: "while [ -e " + HoldPath(name) + " ]; do sleep 0.1; done\n",
		Files:    map[string]string{"/usr/share/" + name + "/VERSION": version + "\n"},
	}
}
