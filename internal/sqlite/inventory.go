package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
)

// Bits of hosts.inventory_nil_lists.
const (
	nilPackages = 1 << iota
	nilUpdates
)

// maxCachedPackages bounds the package id cache. A fleet has a few tens of
// thousands of distinct package versions; past the bound the cache starts
// over rather than grow without limit.
const maxCachedPackages = 1 << 20

// packageCache maps package versions to their id in package_versions, so
// that an inventory of 2,000 packages costs 2,000 map lookups instead of
// 2,000 index seeks. Rows of package_versions are never deleted or changed,
// so a cached id stays right; ids found or created in a transaction are
// added only after it commits.
type packageCache struct {
	mu  sync.RWMutex
	ids map[patchbay.Package]int64
}

func newPackageCache() *packageCache {
	return &packageCache{ids: make(map[patchbay.Package]int64)}
}

func (c *packageCache) add(ids map[patchbay.Package]int64) {
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids)+len(ids) > maxCachedPackages {
		c.ids = make(map[patchbay.Package]int64)
	}
	for p, id := range ids {
		c.ids[p] = id
	}
}

// cachedIDs looks pkgs up in the cache. It returns the ids found and the
// packages that were not.
func (c *packageCache) lookup(pkgs []patchbay.Package) (ids []int64, missing []patchbay.Package) {
	ids = make([]int64, 0, len(pkgs))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range pkgs {
		if id, ok := c.ids[p]; ok {
			ids = append(ids, id)
		} else {
			missing = append(missing, p)
		}
	}
	return ids, missing
}

// resolvePackages returns the ids of pkgs, creating the package versions
// not seen before, and records them in fresh for the caller to add to the
// cache once the transaction commits.
func (db *DB) resolvePackages(ctx context.Context, tx *sql.Tx, pkgs []patchbay.Package, fresh map[patchbay.Package]int64) ([]int64, error) {
	ids := make([]int64, 0, len(pkgs))
	if len(pkgs) == 0 {
		return ids, nil
	}
	sel := db.stmt(ctx, tx, qSelectPackageVersion)
	ins := db.stmt(ctx, tx, qInsertPackageVersion)
	for _, p := range pkgs {
		if id, ok := fresh[p]; ok {
			ids = append(ids, id)
			continue
		}
		args := []any{p.Name, p.Arch, p.Version, p.SourceName, p.SourceVersion}
		var id int64
		err := sel.QueryRowContext(ctx, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			err = ins.QueryRowContext(ctx, args...).Scan(&id)
		}
		if err != nil {
			return nil, fmt.Errorf("package %s %s: %w", p.Key(), p.Version, err)
		}
		fresh[p] = id
		ids = append(ids, id)
	}
	return ids, nil
}

const (
	qSelectPackageVersion = `SELECT id FROM package_versions
		WHERE name = ? AND arch = ? AND version = ? AND source_name = ? AND source_version = ?`
	qInsertPackageVersion = `INSERT INTO package_versions (name, arch, version, source_name, source_version)
		VALUES (?, ?, ?, ?, ?) RETURNING id`
	qInventoryState = `SELECT inventory_hash, machine_id, inventory_nil_lists FROM hosts WHERE id = ?`
	// The primary key orders a host's rows by package_id.
	qHostPackageIDs     = `SELECT json_group_array(package_id) FROM host_packages WHERE host_id = ?`
	qDeleteHostPackages = `DELETE FROM host_packages
		WHERE host_id = ? AND package_id IN (SELECT value FROM json_each(?))`
	qInsertHostPackages = `INSERT INTO host_packages (host_id, package_id) SELECT ?, value FROM json_each(?)`
	qHostUpdates        = `SELECT name, arch, installed_version, candidate_version, origin, security
		FROM host_updates WHERE host_id = ?`
	qUpsertHostUpdate = `INSERT INTO host_updates
		(host_id, name, arch, installed_version, candidate_version, origin, security) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_id, name, arch) DO UPDATE SET
		installed_version = excluded.installed_version, candidate_version = excluded.candidate_version,
		origin = excluded.origin, security = excluded.security`
	qDeleteHostUpdate = `DELETE FROM host_updates WHERE host_id = ? AND name = ? AND arch = ?`
	qUpdateFirstSeen  = `INSERT INTO update_first_seen (name, arch, version, first_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`
	qSaveInventoryFacts = `UPDATE hosts SET
		hostname = ?, os_id = ?, os_id_like = ?, os_version_id = ?, os_codename = ?, os_name = ?, os_pretty_name = ?,
		kernel = ?, arch = ?, boot_id = ?, uptime_seconds = ?, ip_addresses = ?, package_manager = ?,
		reboot_required = ?, reboot_reasons = ?,
		inventory_hash = ?, inventory_schema_version = ?, inventory_collected_at = ?, inventory_nil_lists = ?,
		updates_error = ?, packages_count = ?,
		updates_count = CASE WHEN ? THEN updates_count ELSE ? END,
		security_updates_count = CASE WHEN ? THEN security_updates_count ELSE ? END,
		last_inventory = ?, last_seen = ?, ubuntu_pro = ?
		WHERE id = ?`
)

// SaveInventory stores inv as the host's inventory if the stored hash is
// still prevHash, writing only the packages and updates that changed, and
// appends events. All in one transaction.
func (db *DB) SaveInventory(ctx context.Context, hostID int64, prevHash string, inv patchbay.Inventory, events []patchbay.Event, now time.Time) error {
	// Lists are stored sorted, as Inventory.Normalize sorts them; a nil
	// list stays null so that the reconstructed inventory hashes the same.
	ips, err := json.Marshal(sortedClone(inv.IPAddresses))
	if err != nil {
		return fmt.Errorf("save inventory of host %d: %w", hostID, err)
	}
	reasons, err := json.Marshal(sortedClone(inv.RebootReasons))
	if err != nil {
		return fmt.Errorf("save inventory of host %d: %w", hostID, err)
	}
	// Hash before the transaction: it is not cheap. Sorting first with a
	// comparator that does not allocate leaves ContentHash's own sort
	// (which builds Key strings at each comparison, 60% of ingest time
	// otherwise) an already sorted list.
	inv.Packages = sortedPackages(inv.Packages)
	hash := inv.ContentHash()
	cached, missing := db.pkgs.lookup(inv.Packages)
	fresh := make(map[patchbay.Package]int64)
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var (
			stored, machineID string
			nilLists          int64
		)
		err := db.stmt(ctx, tx, qInventoryState).QueryRowContext(ctx, hostID).Scan(&stored, &machineID, &nilLists)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", hostID)
		}
		if err != nil {
			return err
		}
		if stored != prevHash {
			return patchbay.Errorf(patchbay.ECONFLICT, "the inventory of host %d changed since it was read", hostID)
		}
		if inv.MachineID != machineID {
			return patchbay.Errorf(patchbay.EINVALID, "inventory machine_id %q is not the host's %q", inv.MachineID, machineID)
		}

		ids, err := db.resolvePackages(ctx, tx, missing, fresh)
		if err != nil {
			return err
		}
		ids = append(ids, cached...)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if err := db.replacePackages(ctx, tx, hostID, ids); err != nil {
			return err
		}
		nilLists &^= nilPackages
		if inv.Packages == nil {
			nilLists |= nilPackages
		}

		// With UpdatesError the agent could not list updates: keep the
		// stored ones and their counts.
		keepUpdates := inv.UpdatesError != ""
		var nUpdates, nSecurity int
		if !keepUpdates {
			if nUpdates, nSecurity, err = db.replaceUpdates(ctx, tx, hostID, inv.Updates, now); err != nil {
				return err
			}
			nilLists &^= nilUpdates
			if inv.Updates == nil {
				nilLists |= nilUpdates
			}
		}

		_, err = db.stmt(ctx, tx, qSaveInventoryFacts).ExecContext(ctx,
			inv.Hostname, inv.OS.ID, inv.OS.IDLike, inv.OS.VersionID, inv.OS.Codename, inv.OS.Name, inv.OS.PrettyName,
			inv.Kernel, inv.Arch, inv.BootID, inv.UptimeSeconds, string(ips), inv.PackageManager,
			boolInt(inv.RebootRequired), string(reasons),
			hash, inv.SchemaVersion, nanos(inv.CollectedAt), nilLists,
			inv.UpdatesError, len(ids),
			boolInt(keepUpdates), nUpdates,
			boolInt(keepUpdates), nSecurity,
			nanos(now), nanos(now), boolInt(inv.UbuntuPro),
			hostID)
		if err != nil {
			return fmt.Errorf("update host: %w", err)
		}
		return db.insertEvents(ctx, tx, hostID, events, now)
	})
	if err != nil {
		return fmt.Errorf("save inventory of host %d: %w", hostID, err)
	}
	db.pkgs.add(fresh)
	return nil
}

// replacePackages makes ids (sorted, distinct) the host's package set,
// writing only the difference with what is stored.
func (db *DB) replacePackages(ctx context.Context, tx *sql.Tx, hostID int64, ids []int64) error {
	// One row with a JSON array: 2,000 rows through database/sql cost
	// more than the rest of a re-report.
	var list string
	if err := db.stmt(ctx, tx, qHostPackageIDs).QueryRowContext(ctx, hostID).Scan(&list); err != nil {
		return fmt.Errorf("read packages: %w", err)
	}
	old, err := parseInts(list)
	if err != nil {
		return fmt.Errorf("read packages: %w", err)
	}
	slices.Sort(old)

	// Merge walk of two sorted lists.
	var add, del []int64
	i, j := 0, 0
	for i < len(old) || j < len(ids) {
		switch {
		case j == len(ids) || (i < len(old) && old[i] < ids[j]):
			del = append(del, old[i])
			i++
		case i == len(old) || ids[j] < old[i]:
			add = append(add, ids[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(del) > 0 {
		if _, err := db.stmt(ctx, tx, qDeleteHostPackages).ExecContext(ctx, hostID, jsonInts(del)); err != nil {
			return fmt.Errorf("delete packages: %w", err)
		}
	}
	if len(add) > 0 {
		if _, err := db.stmt(ctx, tx, qInsertHostPackages).ExecContext(ctx, hostID, jsonInts(add)); err != nil {
			return fmt.Errorf("insert packages: %w", err)
		}
	}
	return nil
}

// replaceUpdates makes updates the host's pending updates, writing only
// what changed, and returns how many there are and how many of them are
// security updates. Of two updates with the same name and arch, the last
// wins. A candidate version the fleet never reported before is first seen
// at now.
func (db *DB) replaceUpdates(ctx context.Context, tx *sql.Tx, hostID int64, updates []patchbay.Update, now time.Time) (n, security int, err error) {
	rows, err := db.stmt(ctx, tx, qHostUpdates).QueryContext(ctx, hostID)
	if err != nil {
		return 0, 0, err
	}
	old, err := scanUpdates(rows)
	if err != nil {
		return 0, 0, err
	}
	stored := make(map[string]patchbay.Update, len(old))
	for _, u := range old {
		stored[u.Key()] = u
	}
	want := make(map[string]patchbay.Update, len(updates))
	for _, u := range updates {
		want[u.Key()] = u
	}
	for _, u := range want {
		if u.Security {
			security++
		}
	}

	var upsert *sql.Stmt
	for _, k := range sortedKeys(want) {
		u := want[k]
		if s, ok := stored[k]; ok && s == u {
			continue
		}
		if upsert == nil {
			upsert = db.stmt(ctx, tx, qUpsertHostUpdate)
		}
		if _, err := upsert.ExecContext(ctx, hostID, u.Name, u.Arch, u.InstalledVersion, u.CandidateVersion, u.Origin, boolInt(u.Security)); err != nil {
			return 0, 0, fmt.Errorf("save update %s: %w", k, err)
		}
		if s, ok := stored[k]; !ok || s.CandidateVersion != u.CandidateVersion {
			if _, err := db.stmt(ctx, tx, qUpdateFirstSeen).ExecContext(ctx, u.Name, u.Arch, u.CandidateVersion, nanos(now)); err != nil {
				return 0, 0, fmt.Errorf("save first seen of %s: %w", k, err)
			}
		}
	}
	for _, k := range sortedKeys(stored) {
		if _, ok := want[k]; ok {
			continue
		}
		s := stored[k]
		if _, err := db.stmt(ctx, tx, qDeleteHostUpdate).ExecContext(ctx, hostID, s.Name, s.Arch); err != nil {
			return 0, 0, fmt.Errorf("delete update %s: %w", k, err)
		}
	}
	return len(want), security, nil
}

// sortedPackages returns pkgs in the order of Inventory.Normalize, nil if
// pkgs is nil, or pkgs itself when it is sorted already; it never changes
// its argument.
func sortedPackages(pkgs []patchbay.Package) []patchbay.Package {
	if slices.IsSortedFunc(pkgs, patchbay.ComparePackages) {
		return pkgs
	}
	c := slices.Clone(pkgs)
	slices.SortFunc(c, patchbay.ComparePackages)
	return c
}

// parseInts parses the JSON array of non-negative integers that
// json_group_array returns; by hand, since json.Unmarshal of 2,000 numbers
// costs more than the query.
func parseInts(s string) ([]int64, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("not a JSON array: %.20q", s)
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return nil, nil
	}
	ids := make([]int64, 0, len(body)/5)
	var n int64
	digits := 0
	for i := 0; i <= len(body); i++ {
		if i == len(body) || body[i] == ',' {
			if digits == 0 {
				return nil, fmt.Errorf("bad JSON integer array at byte %d", i+1)
			}
			ids = append(ids, n)
			n, digits = 0, 0
			continue
		}
		c := body[i]
		if c < '0' || c > '9' || digits >= 18 || (digits == 1 && n == 0) {
			return nil, fmt.Errorf("bad JSON integer array at byte %d", i+1)
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return ids, nil
}

// sortedClone returns a sorted copy of s, nil if s is nil.
func sortedClone(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Inventory reconstructs the host's stored inventory. Right after
// SaveInventory its ContentHash equals the stored hash, with one
// exception: when the report carried an UpdatesError, the store kept the
// previous updates, and Inventory returns those (with the error).
// A heartbeat that changed the boot id also changes the hash.
func (db *DB) Inventory(ctx context.Context, hostID int64) (patchbay.Inventory, error) {
	var inv patchbay.Inventory
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var (
			ips, reasons        string
			reboot, collectedAt int64
			nilLists, pro       int64
		)
		err := tx.QueryRowContext(ctx, `SELECT inventory_schema_version, inventory_collected_at, machine_id, hostname,
			os_id, os_id_like, os_version_id, os_codename, os_name, os_pretty_name,
			kernel, arch, boot_id, uptime_seconds, ip_addresses, package_manager,
			reboot_required, reboot_reasons, updates_error, inventory_nil_lists, ubuntu_pro
			FROM hosts WHERE id = ?`, hostID).Scan(
			&inv.SchemaVersion, &collectedAt, &inv.MachineID, &inv.Hostname,
			&inv.OS.ID, &inv.OS.IDLike, &inv.OS.VersionID, &inv.OS.Codename, &inv.OS.Name, &inv.OS.PrettyName,
			&inv.Kernel, &inv.Arch, &inv.BootID, &inv.UptimeSeconds, &ips, &inv.PackageManager,
			&reboot, &reasons, &inv.UpdatesError, &nilLists, &pro)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", hostID)
		}
		if err != nil {
			return err
		}
		inv.CollectedAt = fromNanos(collectedAt)
		inv.RebootRequired, inv.UbuntuPro = reboot != 0, pro != 0
		if err := json.Unmarshal([]byte(ips), &inv.IPAddresses); err != nil {
			return fmt.Errorf("ip_addresses: %w", err)
		}
		if err := json.Unmarshal([]byte(reasons), &inv.RebootReasons); err != nil {
			return fmt.Errorf("reboot_reasons: %w", err)
		}
		if inv.Packages, err = queryPackages(ctx, tx, hostID); err != nil {
			return err
		}
		if inv.Updates, err = queryUpdates(ctx, tx, hostID); err != nil {
			return err
		}
		if nilLists&nilPackages != 0 && len(inv.Packages) == 0 {
			inv.Packages = nil
		}
		if nilLists&nilUpdates != 0 && len(inv.Updates) == 0 {
			inv.Updates = nil
		}
		return nil
	})
	if err != nil {
		return patchbay.Inventory{}, fmt.Errorf("inventory of host %d: %w", hostID, err)
	}
	return inv, nil
}

// Packages returns the host's installed packages, sorted as
// Inventory.Normalize sorts them.
func (db *DB) Packages(ctx context.Context, hostID int64) ([]patchbay.Package, error) {
	var pkgs []patchbay.Package
	err := db.readTx(ctx, func(tx *sql.Tx) (err error) {
		if err := hostExists(ctx, tx, hostID); err != nil {
			return err
		}
		pkgs, err = queryPackages(ctx, tx, hostID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packages of host %d: %w", hostID, err)
	}
	return pkgs, nil
}

// Updates returns the host's pending updates, sorted by name and arch.
func (db *DB) Updates(ctx context.Context, hostID int64) ([]patchbay.Update, error) {
	var ups []patchbay.Update
	err := db.readTx(ctx, func(tx *sql.Tx) (err error) {
		if err := hostExists(ctx, tx, hostID); err != nil {
			return err
		}
		ups, err = queryUpdates(ctx, tx, hostID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updates of host %d: %w", hostID, err)
	}
	return ups, nil
}

// queryPackages returns a non-nil, sorted list.
func queryPackages(ctx context.Context, tx *sql.Tx, hostID int64) ([]patchbay.Package, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.name, p.arch, p.version, p.source_name, p.source_version
		FROM host_packages hp JOIN package_versions p ON p.id = hp.package_id
		WHERE hp.host_id = ?`, hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pkgs := []patchbay.Package{}
	for rows.Next() {
		var p patchbay.Package
		if err := rows.Scan(&p.Name, &p.Arch, &p.Version, &p.SourceName, &p.SourceVersion); err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(pkgs, func(a, b patchbay.Package) int {
		return cmp.Or(patchbay.ComparePackages(a, b), strings.Compare(a.Version, b.Version),
			strings.Compare(a.SourceName, b.SourceName), strings.Compare(a.SourceVersion, b.SourceVersion))
	})
	return pkgs, nil
}

// queryUpdates returns the host's updates as a non-nil, sorted list.
func queryUpdates(ctx context.Context, tx *sql.Tx, hostID int64) ([]patchbay.Update, error) {
	rows, err := tx.QueryContext(ctx, qHostUpdates, hostID)
	if err != nil {
		return nil, err
	}
	return scanUpdates(rows)
}

// scanUpdates reads and closes rows of qHostUpdates.
func scanUpdates(rows *sql.Rows) ([]patchbay.Update, error) {
	defer rows.Close()
	ups := []patchbay.Update{}
	for rows.Next() {
		var (
			u   patchbay.Update
			sec int64
		)
		if err := rows.Scan(&u.Name, &u.Arch, &u.InstalledVersion, &u.CandidateVersion, &u.Origin, &sec); err != nil {
			return nil, err
		}
		u.Security = sec != 0
		ups = append(ups, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(ups, patchbay.CompareUpdates)
	return ups, nil
}
