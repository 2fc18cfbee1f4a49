// Package patchbay holds the domain of Patchbay: hosts, their inventories
// and change history, enrolment tokens, and the error type shared by every
// layer. It imports the standard library only; storage, transport and
// package-manager code live under internal/ and depend on this package,
// never the other way round.
package patchbay
