package directory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// SupernodeRegistrarConfig configures a SupernodeRegistrar.
type SupernodeRegistrarConfig struct {
	// Directory is the directory's URL, in any form ClientConfig.URL
	// takes (a comma-separated list: tried in turn).
	Directory string
	// Token is the directory's supernode token (--supernode-token), if it
	// has one.
	Token        string
	Registration SupernodeRegistration
	// Load returns the allocations held now, sent with every heartbeat.
	Load   func() int
	Logger *slog.Logger // nil → slog.Default()
}

// SupernodeRegistrar registers an operator supernode with the directory
// and keeps it registered: the directory offers it to clients while its
// heartbeats come.
type SupernodeRegistrar struct {
	cfg       SupernodeRegistrarConfig
	endpoints []string // http(s)://…/v1/supernodes
	log       *slog.Logger
	client    *http.Client
	next      int           // endpoint to try first
	heartbeat time.Duration // as the directory asks
}

// ErrRegistrationRefused means the directory refused a supernode's
// registration (a missing or wrong token, a malformed request): trying
// again will not help.
var ErrRegistrationRefused = errors.New("supernode registration refused")

// registrarTimeout bounds one registration request.
const registrarTimeout = 5 * time.Second

// minHeartbeat is the shortest heartbeat a registrar takes from a
// directory (tests run directories with expiries of well under a second).
const minHeartbeat = 100 * time.Millisecond

// NewSupernodeRegistrar checks cfg; Register and Run do the work.
func NewSupernodeRegistrar(cfg SupernodeRegistrarConfig) (*SupernodeRegistrar, error) {
	r := &SupernodeRegistrar{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), client: &http.Client{Timeout: registrarTimeout}, heartbeat: RelayHeartbeat}
	for _, raw := range strings.Split(cfg.Directory, ",") {
		ws, err := websocketURL(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		u, _ := url.Parse(ws) // websocketURL made it
		u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
		u.Path = strings.TrimSuffix(u.Path, wire.Path) + "/v1/supernodes"
		r.endpoints = append(r.endpoints, u.String())
	}
	return r, nil
}

// Register registers the supernode, or renews its registration, with the
// first directory of the list that answers.
func (r *SupernodeRegistrar) Register(ctx context.Context) error {
	reg := r.cfg.Registration
	if r.cfg.Load != nil {
		reg.Load = r.cfg.Load()
	}
	body, err := json.Marshal(reg)
	if err != nil {
		return err
	}
	var lastErr error
	for range r.endpoints {
		endpoint := r.endpoints[r.next]
		var answer SupernodeRegistered
		lastErr = r.do(ctx, http.MethodPost, endpoint, body, &answer)
		if lastErr == nil {
			if answer.HeartbeatMS > 0 {
				// Bounded below, so that a directory cannot make it spin.
				r.heartbeat = max(time.Duration(answer.HeartbeatMS)*time.Millisecond, minHeartbeat)
			}
			return nil
		}
		if errors.Is(lastErr, ErrRegistrationRefused) {
			return lastErr
		}
		r.next = (r.next + 1) % len(r.endpoints)
	}
	return lastErr
}

// Run renews the registration at the pace the directory asked for until
// ctx ends, then withdraws it, so that clients are not sent to a
// supernode that is gone. Failures are logged: a directory that comes back
// takes the next heartbeat.
func (r *SupernodeRegistrar) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), registrarTimeout)
			defer cancel()
			endpoint := r.endpoints[r.next] + "/" + url.PathEscape(r.cfg.Registration.ID)
			if err := r.do(dctx, http.MethodDelete, endpoint, nil, nil); err != nil {
				r.log.Warn("supernode: withdraw registration", "err", err)
			}
			return
		case <-time.After(r.heartbeat):
		}
		if err := r.Register(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("supernode: heartbeat to the directory failed", "err", err)
		}
	}
}

func (r *SupernodeRegistrar) do(ctx context.Context, method, endpoint string, body []byte, answer any) error {
	req, err := http.NewRequestWithContext(ctx, method, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if r.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, endpoint, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return fmt.Errorf("%w: %s: %s", ErrRegistrationRefused, resp.Status, bytes.TrimSpace(text))
	case resp.StatusCode >= 300:
		return fmt.Errorf("%s %s: %s: %s", method, endpoint, resp.Status, bytes.TrimSpace(text))
	case answer != nil:
		if err := json.Unmarshal(text, answer); err != nil {
			return fmt.Errorf("%s %s: answer: %w", method, endpoint, err)
		}
	}
	return nil
}
