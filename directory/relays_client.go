package directory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parley-voip/parley/directory/internal/wire"
	"github.com/parley-voip/parley/nat"
)

// ICEServers asks the directory for the ICE servers of the user's next
// calls — STUN and TURN of up to three relays, least loaded first, with
// TURN REST credentials — and how long the credentials last.
func (c *Client) ICEServers(ctx context.Context) ([]nat.ICEServer, time.Duration, error) {
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.ICERequest{Header: wire.Header{ID: id}})
	if err != nil {
		return nil, 0, fmt.Errorf("ICE servers: %w", err)
	}
	result, ok := answer.(*wire.ICEResult)
	if !ok {
		return nil, 0, fmt.Errorf("ICE servers: %w: unexpected answer %T", ErrProtocol, answer)
	}
	var out []nat.ICEServer
	for _, s := range result.Servers {
		for _, u := range s.URLs {
			server := nat.ICEServer{URL: u}
			if !strings.HasPrefix(u, "stun") {
				server.Username, server.Credential = s.Username, s.Credential
			}
			out = append(out, server)
		}
	}
	return out, time.Duration(result.TTLSeconds) * time.Second, nil
}

// VolunteerRelay is a relay a user runs for others (parley answer --relay).
type VolunteerRelay struct {
	URLs     []string // stun:, turn: URLs others reach it on
	Secret   string   // its TURN REST secret, 16-128 printable ASCII characters
	Capacity int      // allocations it takes; 0: no limit
	Load     func() int
	// RelayFor is who may use it: CallsFromContacts (the default) or
	// CallsFromAnyone.
	RelayFor string
}

// RegisterRelay registers r with the directory, or renews its
// registration. A new relay the directory cannot reach over UDP is
// refused (a ProtocolError with code "unreachable").
func (c *Client) RegisterRelay(ctx context.Context, r VolunteerRelay) error {
	id := c.newID()
	m := &wire.Relay{Header: wire.Header{ID: id}, URLs: r.URLs, Secret: r.Secret, Capacity: r.Capacity, RelayFor: r.RelayFor}
	if r.Load != nil {
		m.Load = r.Load()
	}
	if _, err := c.request(ctx, id, m); err != nil {
		return fmt.Errorf("register relay: %w", err)
	}
	return nil
}

// RelayHeartbeat is how often a registered relay renews its registration:
// a third of the directory's default expiry.
const RelayHeartbeat = defaultRelayExpiry / 3

// KeepRelay renews r's registration every RelayHeartbeat until ctx ends,
// logging failures (a directory that restarts takes it again at the next
// beat).
func (c *Client) KeepRelay(ctx context.Context, r VolunteerRelay, log *slog.Logger) {
	t := time.NewTicker(RelayHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, RelayHeartbeat)
		if err := c.RegisterRelay(rctx, r); err != nil {
			log.Warn("relay heartbeat failed", "err", err)
		}
		cancel()
	}
}
