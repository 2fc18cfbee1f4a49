package patchbay

// An image is a root filesystem that is not running (a VM or container
// template) that an agent inventories and patches offline
// (`patchbay agent --root DIR --once`). Its host record carries the labels
// kind=image and image=LABEL, set at enrolment: images are listed with
// `--label kind=image`, and are never stale (an image is only seen when it
// is inventoried, so a long silence means nothing) nor need a reboot.
const (
	LabelKind  = "kind"
	KindImage  = "image"
	LabelImage = "image"
)

// IsImage reports whether h is an image rather than a running host.
func (h Host) IsImage() bool { return h.Labels[LabelKind] == KindImage }

// ImageLabels are the labels of the host record of the image named label.
func ImageLabels(label string) map[string]string {
	return map[string]string{LabelKind: KindImage, LabelImage: label}
}

// ValidImageLabel checks an image's label: 1 to 64 letters, digits, '.',
// '_' or '-'.
func ValidImageLabel(s string) error {
	if s == "" || len(s) > 64 {
		return Errorf(EINVALID, "image label must be 1 to 64 characters, got %d", len(s))
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return Errorf(EINVALID, "image label %q: only letters, digits, '.', '_' and '-'", s)
		}
	}
	return nil
}
