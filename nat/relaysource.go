package nat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
)

// RelaySourceConfig configures a RelaySource. Fetch is required.
type RelaySourceConfig struct {
	// Fetch asks the directory for ICE servers, least loaded first, and
	// says how long their credentials last.
	Fetch func(ctx context.Context) (servers []ICEServer, ttl time.Duration, err error)
	// Stop ends the refreshing: the directory client's Done. Required.
	Stop <-chan struct{}
	// ProbeTimeout bounds each round-trip measurement; 0 → 500 ms.
	ProbeTimeout time.Duration
	Logger       *slog.Logger // nil → slog.Default()
}

// RelaySource keeps the directory's ICE servers ready for calls
// (ICEConfig.Source): it fetches them, measures the round trip to each
// relay (a STUN binding over UDP) and ranks them by it — the directory has
// ranked them by load, but only the client can tell which is near —, and
// fetches them again before their credentials expire.
type RelaySource struct {
	cfg  RelaySourceConfig
	log  *slog.Logger
	done chan struct{} // closed when the refresh loop has ended

	// mu guards the following fields.
	mu      sync.Mutex
	servers []ICEServer
	// penalties holds, until when, relays that failed a call (by host):
	// calls leave them out while another relay is left.
	penalties map[string]time.Time
}

// Refresh timing: the servers are fetched again when half their
// credentials' life has passed, and at least every maxRefreshWait, so
// that relays that came or went — or a supernode restarted with a new
// secret, which the old credentials no longer open — are known within
// minutes; a failed fetch is retried after retryWait.
const (
	retryWait       = 5 * time.Second
	minRefreshWait  = 10 * time.Second
	maxRefreshWait  = 5 * time.Minute
	relayPenaltyFor = 10 * time.Minute
)

// refreshWait is how long servers whose credentials last ttl are used
// before they are fetched again.
func refreshWait(ttl time.Duration) time.Duration {
	return min(max(ttl/2, minRefreshWait), maxRefreshWait)
}

// StartRelaySource fetches the first servers (so that the first call has
// them; a directory that does not answer within fetchTimeout is an error)
// and keeps them fresh until cfg.Stop is closed.
func StartRelaySource(ctx context.Context, cfg RelaySourceConfig) (*RelaySource, error) {
	if cfg.Fetch == nil || cfg.Stop == nil {
		return nil, errors.New("nat: relay source needs Fetch and Stop")
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &RelaySource{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), penalties: make(map[string]time.Time)}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	ttl, err := s.refresh(fctx)
	cancel()
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(s.done)
		s.refreshRunLoop(ttl)
	}()
	return s, nil
}

// Done is closed once the source has stopped refreshing.
func (s *RelaySource) Done() <-chan struct{} { return s.done }

// ICEServers returns the servers for the next call, best first, without
// penalized relays unless only those are left.
func (s *RelaySource) ICEServers() []ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	ranked := s.rankLocked(s.servers, nil)
	fine := slices.DeleteFunc(slices.Clone(ranked), func(srv ICEServer) bool {
		_, bad := s.penalties[hostOf(srv.URL)]
		return bad
	})
	if len(fine) > 0 {
		return fine
	}
	return ranked
}

// Penalize ranks the relay at host down for a while: a call lost its path
// through it (the relay dropped the traffic, or died).
func (s *RelaySource) Penalize(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.penalties[host] = time.Now().Add(relayPenaltyFor)
	s.servers = s.rankLocked(s.servers, nil)
	s.log.Info("relay ranked down after a lost path", "relay", host, "for", relayPenaltyFor)
}

// fetchTimeout bounds one refresh (a directory that went away ends it
// sooner: its client fails pending requests).
const fetchTimeout = 10 * time.Second

func (s *RelaySource) refreshRunLoop(ttl time.Duration) {
	wait := refreshWait(ttl)
	for {
		select {
		case <-s.cfg.Stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		ttl, err := s.refresh(ctx)
		cancel()
		if err != nil {
			s.log.Warn("cannot refresh ICE servers from the directory; keeping the old ones", "err", err)
			wait = retryWait
			continue
		}
		wait = refreshWait(ttl)
	}
}

// refresh fetches the servers and ranks them by measured round trip.
func (s *RelaySource) refresh(ctx context.Context) (time.Duration, error) {
	servers, ttl, err := s.cfg.Fetch(ctx)
	if err != nil {
		return 0, fmt.Errorf("nat: fetch ICE servers: %w", err)
	}
	rtts := measureRoundTrips(ctx, servers, s.cfg.ProbeTimeout)
	s.mu.Lock()
	s.servers = s.rankLocked(servers, rtts)
	s.mu.Unlock()
	s.log.Debug("ICE servers from the directory", "servers", len(servers), "rtt", rtts, "ttl", ttl)
	return ttl, nil
}

// rankLocked orders servers by relay: first those not penalized, then by
// measured round trip (unmeasured or silent ones after the others, TCP
// may still reach them), keeping the directory's order among equals. With
// rtts nil, it keeps the last ranking but moves penalized relays last.
func (s *RelaySource) rankLocked(servers []ICEServer, rtts map[string]time.Duration) []ICEServer {
	now := time.Now()
	for k, until := range s.penalties {
		if now.After(until) {
			delete(s.penalties, k)
		}
	}
	out := slices.Clone(servers)
	position := make(map[string]int)
	for i, srv := range servers {
		if _, ok := position[hostPort(srv.URL)]; !ok {
			position[hostPort(srv.URL)] = i
		}
	}
	score := func(srv ICEServer) (penalized int, rtt time.Duration, pos int) {
		hp := hostPort(srv.URL)
		if _, ok := s.penalties[hostOf(srv.URL)]; ok {
			penalized = 1
		}
		rtt = time.Duration(1<<62 - 1)
		if d, ok := rtts[hp]; ok {
			rtt = d
		}
		if rtts == nil {
			rtt = 0 // keep the last ranking
		}
		return penalized, rtt, position[hp]
	}
	slices.SortStableFunc(out, func(a, b ICEServer) int {
		pa, ra, ia := score(a)
		pb, rb, ib := score(b)
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(ra, rb), cmp.Compare(ia, ib))
	})
	return out
}

// hostOf returns the host of an ICE server URL, "" if it has none.
func hostOf(url string) string {
	u, err := ice.ParseURL(url)
	if err != nil {
		return ""
	}
	return u.Host
}

// hostPort returns the host:port of an ICE server URL, "" if it has none.
func hostPort(url string) string {
	u, err := ice.ParseURL(url)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
}

// UDPTarget returns the host:port a STUN binding request to the ICE
// server at url goes to, and whether the server is reached over UDP
// (stun:, and turn: without transport=tcp; every TURN server answers STUN).
func UDPTarget(url string) (string, bool) {
	u, err := ice.ParseURL(url)
	if err != nil || u.Proto != ice.ProtoTypeUDP || u.Scheme == ice.SchemeTypeTURNS {
		return "", false
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)), true
}

// measureRoundTrips sends a STUN binding request to every relay's UDP port
// at once and returns the round trips of those that answered in time.
func measureRoundTrips(ctx context.Context, servers []ICEServer, timeout time.Duration) map[string]time.Duration {
	var targets []string
	for _, srv := range servers {
		if hp, ok := UDPTarget(srv.URL); ok && !slices.Contains(targets, hp) {
			targets = append(targets, hp)
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[string]time.Duration)
	)
	for _, hp := range targets {
		wg.Go(func() {
			rtt, err := RoundTrip(ctx, hp, timeout)
			if err != nil {
				return
			}
			mu.Lock()
			out[hp] = rtt
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// RoundTrip measures the time a STUN server at host:port takes to answer
// a binding request over UDP (retransmitted within timeout, so a lost
// packet shows as a longer round trip).
func RoundTrip(ctx context.Context, server string, timeout time.Duration) (time.Duration, error) {
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return 0, fmt.Errorf("nat: round trip to %s: %w", server, err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := bindingRequest(ctx, conn, server, timeout); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
