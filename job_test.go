package patchbay

import "testing"

func TestJobValidate(t *testing.T) {
	pkg := []PackageVersion{{Name: "demo-app", Version: "1.0-1"}}
	tests := []struct {
		name string
		job  Job
		ok   bool
	}{
		{"install", Job{ID: "r12-h3.1", Action: JobInstall, Packages: pkg, Checks: []string{"web"}}, true},
		{"refresh", Job{ID: "a", Action: JobRefresh}, true},
		{"check", Job{ID: "a", Action: JobCheck, Checks: []string{"web"}}, true},
		{"changelog", Job{ID: "cl-1-1", Action: JobChangelog, Packages: pkg}, true},
		{"changelog without packages", Job{ID: "a", Action: JobChangelog}, false},
		{"changelog with checks", Job{ID: "a", Action: JobChangelog, Packages: pkg, Checks: []string{"x"}}, false},
		{"changelog with refresh", Job{ID: "a", Action: JobChangelog, Packages: pkg, Refresh: true}, false},
		{"changelog of too many packages", Job{ID: "a", Action: JobChangelog, Packages: make([]PackageVersion, MaxChangelogPackages+1)}, false},
		{"empty id", Job{Action: JobRefresh}, false},
		{"path in id", Job{ID: "../x", Action: JobRefresh}, false},
		{"slash in id", Job{ID: "a/b", Action: JobRefresh}, false},
		{"long id", Job{ID: string(make([]byte, 129)), Action: JobRefresh}, false},
		{"action not on the allow-list", Job{ID: "a", Action: "shell"}, false},
		{"reboot not yet", Job{ID: "a", Action: "reboot"}, false},
		{"install without packages", Job{ID: "a", Action: JobInstall}, false},
		{"check without checks", Job{ID: "a", Action: JobCheck}, false},
		{"packages on a check job", Job{ID: "a", Action: JobCheck, Checks: []string{"x"}, Packages: pkg}, false},
		{"refresh flag on refresh", Job{ID: "a", Action: JobRefresh, Refresh: true}, false},
		{"checks on refresh", Job{ID: "a", Action: JobRefresh, Checks: []string{"x"}}, false},
		{"package twice", Job{ID: "a", Action: JobInstall, Packages: append(pkg, pkg...)}, false},
		{"package without version", Job{ID: "a", Action: JobInstall, Packages: []PackageVersion{{Name: "x"}}}, false},
		{"check twice", Job{ID: "a", Action: JobCheck, Checks: []string{"x", "x"}}, false},
		{"install allowing downgrades", Job{ID: "a", Action: JobInstall, Packages: pkg, AllowDowngrade: true}, true},
		{"downgrades on a check job", Job{ID: "a", Action: JobCheck, Checks: []string{"x"}, AllowDowngrade: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.job.Validate()
			if tt.ok && err != nil || !tt.ok && ErrorCode(err) != EINVALID {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
