package cli

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/pki"
)

// clientConfig is the CLI's config file: where the server is, how to
// trust it and which token to send.
type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	CAPEM  string `json:"ca_pem,omitempty"` // the server's CA; empty: system roots
}

func defaultConfigPath() (string, error) {
	if p := getenv("PATCHBAY_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find config dir: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "patchbay", "config.json"), nil
}

func (e *env) configFile() (string, error) {
	if e.configPath != "" {
		return e.configPath, nil
	}
	return defaultConfigPath()
}

// loadClientConfig resolves flags > environment > file.
func (e *env) loadClientConfig() (clientConfig, error) {
	var c clientConfig
	path, err := e.configFile()
	if err != nil {
		return c, err
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("read config: %w", err)
	default:
		if err := json.Unmarshal(data, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v := getenv("PATCHBAY_SERVER"); v != "" {
		c.Server = v
	}
	if v := getenv("PATCHBAY_TOKEN"); v != "" {
		c.Token = v
	}
	if e.server != "" {
		c.Server = e.server
	}
	if e.token != "" {
		c.Token = e.token
	}
	if c.Server == "" {
		return c, usagef("no server configured: run `patchbay up`, or pass --server and --token (or set PATCHBAY_SERVER and PATCHBAY_TOKEN)")
	}
	return c, nil
}

func writeClientConfig(path string, c clientConfig) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config dir: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return os.Rename(tmp, path)
}

// apiClient builds a client from the resolved config.
func (e *env) apiClient() (*client.Client, error) {
	c, err := e.loadClientConfig()
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if c.CAPEM != "" {
		if tlsCfg, err = pki.PoolConfig([]byte(c.CAPEM)); err != nil {
			return nil, fmt.Errorf("config: ca_pem: %w", err)
		}
	}
	return client.New(c.Server, c.Token, tlsCfg), nil
}
