package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// defaultIntervalSeconds is the check-in interval assumed for a host that
// has none, as in patchbay.Host.StatusAt.
const defaultIntervalSeconds = 300

const hostColumns = `h.id, h.machine_id, h.hostname,
	h.os_id, h.os_id_like, h.os_version_id, h.os_codename, h.os_name, h.os_pretty_name,
	h.kernel, h.arch, h.boot_id, h.uptime_seconds, h.ip_addresses, h.package_manager,
	h.packages_count, h.updates_count, h.security_updates_count, h.reboot_required, h.reboot_reasons,
	h.inventory_hash, h.interval_seconds, h.enrolled_at, h.last_seen, h.last_inventory,
	h.owner, h.environment, h.role, h.criticality, h.location, h.ubuntu_pro,
	h.retired_at, h.retired_by, h.retired_reason`

// scanHost reads the columns of hostColumns. Labels are loaded apart.
// Status is left empty: it depends on the caller's now (Host.StatusAt).
func scanHost(s interface{ Scan(...any) error }) (patchbay.Host, error) {
	var (
		h                                 patchbay.Host
		ips, reasons                      string
		reboot, pro                       int64
		enrolledAt, lastSeen, lastInvTime int64
		retiredAt                         int64
	)
	err := s.Scan(&h.ID, &h.MachineID, &h.Hostname,
		&h.OS.ID, &h.OS.IDLike, &h.OS.VersionID, &h.OS.Codename, &h.OS.Name, &h.OS.PrettyName,
		&h.Kernel, &h.Arch, &h.BootID, &h.UptimeSeconds, &ips, &h.PackageManager,
		&h.PackagesCount, &h.UpdatesCount, &h.SecurityUpdatesCount, &reboot, &reasons,
		&h.InventoryHash, &h.IntervalSeconds, &enrolledAt, &lastSeen, &lastInvTime,
		&h.Assets.Owner, &h.Assets.Environment, &h.Assets.Role, &h.Assets.Criticality, &h.Assets.Location, &pro,
		&retiredAt, &h.RetiredBy, &h.RetiredReason)
	if err != nil {
		return h, err
	}
	h.UbuntuPro = pro != 0
	if err := json.Unmarshal([]byte(ips), &h.IPAddresses); err != nil {
		return h, fmt.Errorf("host %d: ip_addresses: %w", h.ID, err)
	}
	if err := json.Unmarshal([]byte(reasons), &h.RebootReasons); err != nil {
		return h, fmt.Errorf("host %d: reboot_reasons: %w", h.ID, err)
	}
	if h.IPAddresses == nil {
		h.IPAddresses = []string{}
	}
	if h.RebootReasons == nil {
		h.RebootReasons = []string{}
	}
	h.RebootRequired = reboot != 0
	h.EnrolledAt = fromNanos(enrolledAt)
	h.LastSeen = fromNanos(lastSeen)
	h.LastInventory = fromNanos(lastInvTime)
	h.RetiredAt = fromNanos(retiredAt)
	h.Labels = map[string]string{}
	return h, nil
}

// queryHosts returns the hosts selected by tail (WHERE, ORDER BY, LIMIT on
// the table aliased h) with their labels.
func queryHosts(ctx context.Context, tx *sql.Tx, tail string, args ...any) ([]patchbay.Host, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+hostColumns+` FROM hosts h `+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hosts := []patchbay.Host{}
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(hosts) == 0 {
		return hosts, nil
	}

	byID := make(map[int64]*patchbay.Host, len(hosts))
	ids := make([]int64, len(hosts))
	for i := range hosts {
		byID[hosts[i].ID] = &hosts[i]
		ids[i] = hosts[i].ID
	}
	rows, err = tx.QueryContext(ctx, `SELECT host_id, key, value FROM host_labels
		WHERE host_id IN (SELECT value FROM json_each(?))`, jsonInts(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id         int64
			key, value string
		)
		if err := rows.Scan(&id, &key, &value); err != nil {
			return nil, err
		}
		if h := byID[id]; h != nil {
			h.Labels[key] = value
		}
	}
	return hosts, rows.Err()
}

// hostByID returns one host, ENOTFOUND if there is none.
func hostByID(ctx context.Context, tx *sql.Tx, id int64) (patchbay.Host, error) {
	hosts, err := queryHosts(ctx, tx, `WHERE h.id = ?`, id)
	if err != nil {
		return patchbay.Host{}, err
	}
	if len(hosts) == 0 {
		return patchbay.Host{}, patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", id)
	}
	return hosts[0], nil
}

// hostExists returns ENOTFOUND unless host id exists.
func hostExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM hosts WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", id)
	}
	return nil
}

// Host returns the host with the given id.
func (db *DB) Host(ctx context.Context, id int64) (patchbay.Host, error) {
	var h patchbay.Host
	err := db.readTx(ctx, func(tx *sql.Tx) (err error) {
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("host %d: %w", id, err)
	}
	return h, nil
}

// FindHost resolves ref as an id, then a machine-id, then a hostname.
func (db *DB) FindHost(ctx context.Context, ref string) (patchbay.Host, error) {
	if ref == "" {
		return patchbay.Host{}, patchbay.Errorf(patchbay.EINVALID, "empty host reference")
	}
	var h patchbay.Host
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
			hosts, err := queryHosts(ctx, tx, `WHERE h.id = ?`, id)
			if err != nil {
				return err
			}
			if len(hosts) == 1 {
				h = hosts[0]
				return nil
			}
		}
		hosts, err := queryHosts(ctx, tx, `WHERE h.machine_id = ?`, ref)
		if err != nil {
			return err
		}
		if len(hosts) == 1 {
			h = hosts[0]
			return nil
		}
		hosts, err = queryHosts(ctx, tx, `WHERE h.hostname = ? ORDER BY h.id`, ref)
		if err != nil {
			return err
		}
		switch len(hosts) {
		case 0:
			return patchbay.Errorf(patchbay.ENOTFOUND, "no host with id, machine-id or hostname %q", ref)
		case 1:
			h = hosts[0]
			return nil
		}
		ids := make([]string, len(hosts))
		for i, x := range hosts {
			ids[i] = strconv.FormatInt(x.ID, 10)
		}
		return patchbay.Errorf(patchbay.EINVALID, "hostname %s is ambiguous, use the id or machine-id: ids %s", ref, strings.Join(ids, ", "))
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("find host %q: %w", ref, err)
	}
	return h, nil
}

// HostByCredential returns the host whose credential hash is hash.
func (db *DB) HostByCredential(ctx context.Context, hash string) (patchbay.Host, error) {
	var h patchbay.Host
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		hosts, err := queryHosts(ctx, tx, `WHERE h.credential_hash = ?`, hash)
		if err != nil {
			return err
		}
		if len(hosts) == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "no host with this credential")
		}
		h = hosts[0]
		return nil
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("host by credential: %w", err)
	}
	return h, nil
}

// ListHosts returns the hosts that match f, ordered by f.Sort (hostname
// by default), ties broken by hostname and id.
func (db *DB) ListHosts(ctx context.Context, f patchbay.HostFilter) ([]patchbay.Host, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "list hosts: limit and offset must not be negative")
	}
	where, args, err := hostWhere(f)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	order, err := hostOrder(f.Sort, f.Desc)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	tail := where + " ORDER BY " + order + " LIMIT ? OFFSET ?"
	args = append(args, limit, f.Offset)

	var hosts []patchbay.Host
	err = db.readTx(ctx, func(tx *sql.Tx) (err error) {
		hosts, err = queryHosts(ctx, tx, tail, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return hosts, nil
}

// CountHosts counts the hosts that match f, ignoring limit and offset.
func (db *DB) CountHosts(ctx context.Context, f patchbay.HostFilter) (int, error) {
	where, args, err := hostWhere(f)
	if err != nil {
		return 0, fmt.Errorf("count hosts: %w", err)
	}
	var n int
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM hosts h `+where, args...).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count hosts: %w", err)
	}
	return n, nil
}

// awaySQL is patchbay.Away in SQL: the host h missed StaleAfterIntervals
// check-ins. Its one parameter is now. Images (label kind=image) are never
// away.
var awaySQL = fmt.Sprintf(
	"(h.last_seen < ? - %d * (CASE WHEN h.interval_seconds > 0 THEN h.interval_seconds ELSE %d END) * 1000000000 AND %s)",
	patchbay.StaleAfterIntervals, defaultIntervalSeconds, notImageSQL)

// goneSQL is true of a host h unseen for longer than the dormant period:
// its parameters are now and the period in nanoseconds.
var goneSQL = "(h.last_seen < ? - ? AND " + notImageSQL + ")"

// hostWhere renders the conditions of f as a WHERE clause on hosts h
// and its arguments. Retired hosts are left out unless f.Status asks for
// them; the statuses are Host.StatusAt's, in SQL.
func hostWhere(f patchbay.HostFilter) (string, []any, error) {
	needNow := f.Stale || (f.Status != "" && f.Status != patchbay.HostRetired)
	if needNow && f.Now.IsZero() {
		return "", nil, patchbay.Errorf(patchbay.EINVALID, "the status filters need the current time")
	}
	if f.Status != "" && !slices.Contains(patchbay.HostStatuses, f.Status) {
		return "", nil, patchbay.Errorf(patchbay.EINVALID, "unknown host status %q (want active, stale, dormant or retired)", f.Status)
	}
	dormantAfter := int64(patchbay.Lifecycle{DormantAfter: f.DormantAfter}.OrDefault().DormantAfter)
	now := nanos(f.Now)
	var (
		where []string
		args  []any
	)
	if f.Status == patchbay.HostRetired {
		where = append(where, "h.retired_at != 0")
	} else {
		where = append(where, "h.retired_at = 0")
	}
	switch f.Status {
	case patchbay.HostActive:
		where = append(where, "NOT "+awaySQL, "NOT "+goneSQL)
		args = append(args, now, now, dormantAfter)
	case patchbay.HostStale:
		where = append(where, awaySQL, "NOT "+goneSQL)
		args = append(args, now, now, dormantAfter)
	case patchbay.HostDormant:
		where = append(where, goneSQL)
		args = append(args, now, dormantAfter)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		if col, ok := assetColumn(k); ok {
			where = append(where, "h."+col+" = ?")
			args = append(args, f.Labels[k])
			continue
		}
		where = append(where, "EXISTS (SELECT 1 FROM host_labels l WHERE l.host_id = h.id AND l.key = ? AND l.value = ?)")
		args = append(args, k, f.Labels[k])
	}
	if f.OSID != "" {
		where = append(where, "h.os_id = ?")
		args = append(args, f.OSID)
	}
	if f.Search != "" {
		// instr on lower() rather than LIKE, so that '%' and '_' in the
		// search are plain characters.
		where = append(where, "instr(lower(h.hostname), ?) > 0")
		args = append(args, strings.ToLower(f.Search))
	}
	if f.NeedsReboot {
		where = append(where, "h.reboot_required = 1")
	}
	if f.HasUpdates {
		where = append(where, "h.updates_count > 0")
	}
	if f.SecurityUpdates {
		where = append(where, "h.security_updates_count > 0")
	}
	if f.Stale {
		where = append(where, "("+awaySQL+" OR "+goneSQL+")")
		args = append(args, now, now, dormantAfter)
	}
	return "WHERE " + strings.Join(where, " AND "), args, nil
}

// hostOrder renders a sort as an ORDER BY list. Only the columns named
// here reach the SQL text.
func hostOrder(s patchbay.HostSort, desc bool) (string, error) {
	var col string
	switch s {
	case "", patchbay.SortHostname:
		col = ""
	case patchbay.SortOS:
		col = "h.os_id, h.os_version_id"
	case patchbay.SortLastSeen:
		col = "h.last_seen"
	case patchbay.SortPackages:
		col = "h.packages_count"
	case patchbay.SortUpdates:
		col = "h.updates_count"
	case patchbay.SortSecurityUpdates:
		col = "h.security_updates_count"
	case patchbay.SortReboot:
		col = "h.reboot_required"
	default:
		return "", patchbay.Errorf(patchbay.EINVALID, "unknown sort %q", s)
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	if col == "" {
		return "h.hostname" + dir + ", h.id" + dir, nil
	}
	cols := strings.Split(col, ", ")
	for i := range cols {
		cols[i] += dir
	}
	return strings.Join(cols, ", ") + ", h.hostname, h.id", nil
}

// UpdateHost sets asset fields and labels of a host.
func (db *DB) UpdateHost(ctx context.Context, id int64, c patchbay.HostChanges) (patchbay.Host, error) {
	for _, k := range slices.Sorted(maps.Keys(c.Assets)) {
		if _, ok := assetColumn(k); !ok {
			return patchbay.Host{}, patchbay.Errorf(patchbay.EINVALID, "unknown asset field %q (one of %s)", k, strings.Join(patchbay.AssetKeys, ", "))
		}
	}
	var h patchbay.Host
	err := db.writeTx(ctx, func(tx *sql.Tx) (err error) {
		if err := hostExists(ctx, tx, id); err != nil {
			return err
		}
		if err := setHostFields(ctx, tx, id, c.Assets); err != nil {
			return err
		}
		if err := setHostFields(ctx, tx, id, c.Labels); err != nil {
			return err
		}
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("update host %d: %w", id, err)
	}
	return h, nil
}

// assetColumn maps an asset key (with the alias "env") to its column.
func assetColumn(key string) (string, bool) {
	switch key {
	case "owner", "environment", "role", "criticality", "location":
		return key, true
	case "env":
		return "environment", true
	}
	return "", false
}

// setHostFields applies "key=value" pairs to a host: asset keys set their
// column (empty clears it), other keys set a label (empty removes it).
// Keys are applied in sorted order so the outcome does not depend on map
// iteration.
func setHostFields(ctx context.Context, tx *sql.Tx, id int64, kv map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		v := kv[k]
		if col, ok := assetColumn(k); ok {
			if _, err := tx.ExecContext(ctx, `UPDATE hosts SET `+col+` = ? WHERE id = ?`, v, id); err != nil {
				return fmt.Errorf("set %s: %w", k, err)
			}
			continue
		}
		if k == "" || strings.Contains(k, "=") {
			return patchbay.Errorf(patchbay.EINVALID, "invalid label key %q", k)
		}
		var err error
		if v == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM host_labels WHERE host_id = ? AND key = ?`, id, k)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO host_labels (host_id, key, value) VALUES (?, ?, ?)
				ON CONFLICT (host_id, key) DO UPDATE SET value = excluded.value`, id, k, v)
		}
		if err != nil {
			return fmt.Errorf("set label %s: %w", k, err)
		}
	}
	return nil
}

// Heartbeat records a check-in. A boot id that differs from a known one is
// a reboot, recorded as an event in the same transaction.
func (db *DB) Heartbeat(ctx context.Context, id int64, hb patchbay.Heartbeat, now time.Time) (patchbay.Host, error) {
	var h patchbay.Host
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var oldBoot string
		err := tx.QueryRowContext(ctx, `SELECT boot_id FROM hosts WHERE id = ?`, id).Scan(&oldBoot)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", id)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE hosts SET
			last_seen = ?,
			uptime_seconds = ?,
			interval_seconds = CASE WHEN ? > 0 THEN ? ELSE interval_seconds END,
			boot_id = CASE WHEN ? <> '' THEN ? ELSE boot_id END
			WHERE id = ?`,
			nanos(now), hb.UptimeSeconds, hb.IntervalSeconds, hb.IntervalSeconds, hb.BootID, hb.BootID, id)
		if err != nil {
			return err
		}
		if hb.BootID != "" && oldBoot != "" && hb.BootID != oldBoot {
			ev := patchbay.Event{Time: now, Kind: patchbay.EventReboot, OldVersion: oldBoot, NewVersion: hb.BootID, Cause: patchbay.CauseObserved}
			if err := db.insertEvents(ctx, tx, id, []patchbay.Event{ev}, now); err != nil {
				return err
			}
		}
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("heartbeat of host %d: %w", id, err)
	}
	return h, nil
}

// jsonInts renders ids as a JSON array for json_each.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}
