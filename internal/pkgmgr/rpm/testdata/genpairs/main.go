// Command genpairs writes testdata/almalinux-version-pairs.txt: pairs of
// real EL version strings, "A B" per line, for the test that compares
// CompareVersions with rpm's own rpm.vercmp. The versions are the "fixed"
// versions of the AlmaLinux OSV advisories in shared/advisories.
//
//	go run ./internal/pkgmgr/rpm/testdata/genpairs \
//	    -advisories ../shared/advisories/almalinux-osv/advisories \
//	    -out internal/pkgmgr/rpm/testdata/almalinux-version-pairs.txt
//
// The pairs: consecutive versions of one package (sorted as strings, not by
// rpm's order, which is what is under test), plus versions of different
// packages, every step-th taken so the file stays small and deterministic.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	dir := flag.String("advisories", "", "directory of AlmaLinux OSV JSON files")
	out := flag.String("out", "", "output file")
	step := flag.Int("step", 6, "keep every step-th pair")
	flag.Parse()
	if *dir == "" || *out == "" {
		log.Fatal("genpairs: -advisories and -out are required")
	}
	versions := map[string][]string{}
	err := filepath.WalkDir(*dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var adv struct {
			Affected []struct {
				Package struct{ Name string }
				Ranges  []struct {
					Events []map[string]string
				}
			}
		}
		if err := json.Unmarshal(b, &adv); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, a := range adv.Affected {
			for _, r := range a.Ranges {
				for _, e := range r.Events {
					if v := e["fixed"]; v != "" {
						versions[a.Package.Name] = append(versions[a.Package.Name], v)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		log.Fatalf("genpairs: %v", err)
	}
	names := make([]string, 0, len(versions))
	for n := range versions {
		names = append(names, n)
	}
	slices.Sort(names)
	var pairs, all []string
	for _, n := range names {
		vs := versions[n]
		slices.Sort(vs)
		vs = slices.Compact(vs)
		all = append(all, vs...)
		for i := 1; i < len(vs); i++ {
			pairs = append(pairs, vs[i-1]+" "+vs[i])
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for i := 7; i < len(all); i++ {
		pairs = append(pairs, all[i-7]+" "+all[i])
	}
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)
	var b strings.Builder
	for i := 0; i < len(pairs); i += *step {
		b.WriteString(pairs[i] + "\n")
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatalf("genpairs: %v", err)
	}
}
