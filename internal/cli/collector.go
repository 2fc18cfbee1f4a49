package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/osinfo"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/apk"
	"github.com/patchbay/patchbay/internal/pkgmgr/deb"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
	"github.com/patchbay/patchbay/internal/pkgmgr/rpm"
)

// newCollector picks the package manager of the root filesystem and
// builds the agent's collector.
func newCollector(root string, logger *slog.Logger) (agent.Collector, error) {
	run := osexec.Runner{}
	var m pkgmgr.Manager
	switch pm := osinfo.DetectPackageManager(root); pm {
	case "apt":
		m = deb.New(root, run)
	case "dnf", "yum":
		m = rpm.New(root, run, rpm.Options{Tool: pm})
	case "apk":
		m = apk.New(root, run, apk.Options{})
	default:
		return nil, fmt.Errorf("no supported package manager under %s (looked for dpkg, rpm with dnf/yum, apk)", root)
	}
	return &agent.HostCollector{Root: root, Manager: m, Now: time.Now, Logger: logger}, nil
}
