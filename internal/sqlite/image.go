package sqlite

import (
	"fmt"

	"github.com/patchbay/patchbay"
)

// notImageSQL is true of a host h that is not an image (label
// kind=image): images are never stale, and get no changelog jobs (their
// agent runs once, offline, and cannot fetch for the fleet).
var notImageSQL = fmt.Sprintf("NOT EXISTS (SELECT 1 FROM host_labels il WHERE il.host_id = h.id AND il.key = '%s' AND il.value = '%s')",
	patchbay.LabelKind, patchbay.KindImage)
