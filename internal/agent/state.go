package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// state is what the agent keeps between runs, in StateDir/state.json
// (mode 0600: it holds the host credential).
type state struct {
	Server     string    `json:"server"`
	HostID     int64     `json:"host_id"`
	MachineID  string    `json:"machine_id"`
	Credential string    `json:"credential"`
	CAPEM      string    `json:"ca_pem"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

const stateFile = "state.json"

func loadState(dir string) (state, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("read agent state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return state{}, false, fmt.Errorf("agent state %s is corrupt (%v): remove it and enrol again with --token", filepath.Join(dir, stateFile), err)
	}
	return s, true, nil
}

// saveState writes the state atomically: a crash leaves the old file or
// the new one, never half of one.
func saveState(dir string, s state) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent state dir: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("save agent state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save agent state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
}

// SavedCredential returns the host credential saved in stateDir for
// server, if there is one.
func SavedCredential(stateDir, server string) (string, bool) {
	s, ok, err := loadState(stateDir)
	if err != nil || !ok || s.Server != server || s.Credential == "" {
		return "", false
	}
	return s.Credential, true
}
