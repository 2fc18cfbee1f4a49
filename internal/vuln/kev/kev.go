// Package kev reads CISA's Known Exploited Vulnerabilities catalog
// (known_exploited_vulnerabilities.json) into patchbay.KEVEntry values.
//
// Exported API:
//
//	Parse(r io.Reader) (Catalog, error)
//
// Download it with osv.Fetch (a conditional GET, nothing KEV-specific).
package kev

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// Catalog is one release of the KEV catalog.
type Catalog struct {
	Version  string              `json:"version"` // catalogVersion, "2025.08.25"
	Released time.Time           `json:"released"`
	Entries  []patchbay.KEVEntry `json:"entries"`
}

type catalog struct {
	CatalogVersion  string  `json:"catalogVersion"`
	DateReleased    string  `json:"dateReleased"`
	Count           *int    `json:"count"`
	Vulnerabilities []entry `json:"vulnerabilities"`
}

type entry struct {
	CVEID                      string `json:"cveID"`
	VendorProject              string `json:"vendorProject"`
	Product                    string `json:"product"`
	VulnerabilityName          string `json:"vulnerabilityName"`
	DateAdded                  string `json:"dateAdded"`
	DueDate                    string `json:"dueDate"`
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
}

var cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// Parse reads a KEV catalog. It refuses a catalog whose count disagrees
// with its entries (a truncated download), an entry whose cveID is not a
// CVE id, and dates it cannot read. Ransomware is true only for "Known".
func Parse(r io.Reader) (Catalog, error) {
	var c catalog
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return Catalog{}, fmt.Errorf("parse kev: %w", err)
	}
	if c.Count == nil || *c.Count != len(c.Vulnerabilities) {
		return Catalog{}, fmt.Errorf("parse kev: count %v, but %d entries", countString(c.Count), len(c.Vulnerabilities))
	}
	out := Catalog{Version: c.CatalogVersion, Entries: make([]patchbay.KEVEntry, 0, len(c.Vulnerabilities))}
	if c.DateReleased != "" {
		t, err := time.Parse(time.RFC3339Nano, c.DateReleased)
		if err != nil {
			return Catalog{}, fmt.Errorf("parse kev: dateReleased: %w", err)
		}
		out.Released = t.UTC()
	}
	for i, v := range c.Vulnerabilities {
		id := strings.TrimSpace(v.CVEID)
		if !cveID.MatchString(id) {
			return Catalog{}, fmt.Errorf("parse kev: entry %d: cveID %q is not a CVE id", i, v.CVEID)
		}
		added, err := date(v.DateAdded)
		if err != nil {
			return Catalog{}, fmt.Errorf("parse kev: %s: dateAdded: %w", id, err)
		}
		due, err := date(v.DueDate)
		if err != nil {
			return Catalog{}, fmt.Errorf("parse kev: %s: dueDate: %w", id, err)
		}
		out.Entries = append(out.Entries, patchbay.KEVEntry{
			CVE:        id,
			DateAdded:  added,
			DueDate:    due,
			Vendor:     v.VendorProject,
			Product:    v.Product,
			Name:       v.VulnerabilityName,
			Ransomware: v.KnownRansomwareCampaignUse == "Known",
		})
	}
	return out, nil
}

func countString(n *int) string {
	if n == nil {
		return "missing"
	}
	return fmt.Sprint(*n)
}

// date reads a KEV date ("2025-08-25"), as midnight UTC; "" is zero.
func date(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}
