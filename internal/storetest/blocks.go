package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// testBlocks: a block round-trips; the same version twice in force is
// ECONFLICT, again after removal it is not; removed blocks are left out of
// the list in force and kept in the whole list.
func testBlocks(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	b := patchbay.Block{Package: "linux-image-6.1.0-14-amd64", Version: "6.1.64-1", Reason: "ext4 corruption", CreatedAt: at(0), CreatedBy: "alice"}
	got, err := s.CreateBlock(ctx, b)
	must(t, err)
	want := b
	want.ID, want.CreatedAt = got.ID, at(0).UTC()
	if diff := cmp.Diff(want, got); diff != "" || got.ID == 0 {
		t.Errorf("CreateBlock (-want +got):\n%s", diff)
	}
	_, err = s.CreateBlock(ctx, b)
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.CreateBlock(ctx, patchbay.Block{Package: "x", Version: "1", CreatedAt: at(0)})
	wantCode(t, err, patchbay.EINVALID)
	other, err := s.CreateBlock(ctx, patchbay.Block{Package: "openssl", Version: "3.0.15-1~deb12u1", Reason: "TLS", CreatedAt: at(time.Hour), CreatedBy: "bob"})
	must(t, err)

	removed, err := s.RemoveBlock(ctx, got.ID, "carol", at(2*time.Hour))
	must(t, err)
	if removed.Active() || removed.RemovedBy != "carol" || !removed.RemovedAt.Equal(at(2*time.Hour)) {
		t.Errorf("removed = %+v", removed)
	}
	_, err = s.RemoveBlock(ctx, got.ID, "carol", at(3*time.Hour))
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.RemoveBlock(ctx, 9999, "carol", at(3*time.Hour))
	wantCode(t, err, patchbay.ENOTFOUND)
	again, err := s.CreateBlock(ctx, b) // blocked again after the removal
	must(t, err)

	ids := func(list []patchbay.Block) []int64 {
		var out []int64
		for _, b := range list {
			out = append(out, b.ID)
		}
		return out
	}
	active, err := s.ListBlocks(ctx, false)
	must(t, err)
	if diff := cmp.Diff([]int64{again.ID, other.ID}, ids(active)); diff != "" {
		t.Errorf("blocks in force (-want +got):\n%s", diff)
	}
	all, err := s.ListBlocks(ctx, true)
	must(t, err)
	if diff := cmp.Diff([]int64{again.ID, other.ID, got.ID}, ids(all)); diff != "" {
		t.Errorf("all blocks (-want +got):\n%s", diff)
	}
}
