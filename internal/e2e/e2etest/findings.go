package e2etest

import (
	"slices"

	"github.com/patchbay/patchbay"
)

// FindingKeys lists findings as sorted "package advisory" strings, the
// form the end-to-end tests compare with dpkg's prediction.
func FindingKeys(fs []patchbay.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Package+" "+f.AdvisoryID)
	}
	slices.Sort(out)
	return out
}
