package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/nat"
)

// relaySource gives a phone the directory's ICE servers, kept fresh and
// ranked by round trip, until the directory client ends; nil (host
// candidates only) when the directory cannot say.
func relaySource(ctx context.Context, client *directory.Client, relayOnly bool, log *slog.Logger) nat.ICESource {
	src, err := nat.StartRelaySource(ctx, nat.RelaySourceConfig{Fetch: client.ICEServers, Stop: client.Done(), Logger: log})
	if err != nil {
		log.Warn("no ICE servers from the directory: calls use host candidates only", "err", err)
		return nil
	}
	if relayOnly && !slices.ContainsFunc(src.ICEServers(), func(s nat.ICEServer) bool { return strings.HasPrefix(s.URL, "turn") }) {
		log.Warn("--relay-only, but the directory hands out no relay (and no --ice-server names one): calls will fail until one registers")
	}
	return src
}

// relayOptions are the flags of a client that volunteers as a relay for
// others (--relay): the supernode service, run in-process.
type relayOptions struct {
	on       bool
	listen   string
	publicIP string
	maxCalls int
	maxKbps  int
	relayFor string
}

func (r *relayOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&r.on, "relay", false, "volunteer as a relay for others' calls, if the directory can reach this machine")
	fs.StringVar(&r.listen, "relay-listen", "0.0.0.0:3478", "HOST:PORT of the relay, UDP and TCP")
	fs.StringVar(&r.publicIP, "relay-public-ip", "", "the address others reach the relay on (default: the --relay-listen host, or this machine's address toward the directory)")
	fs.IntVar(&r.maxCalls, "relay-max-calls", 4, "calls relayed at once at most")
	fs.IntVar(&r.maxKbps, "relay-max-kbps", 1000, "kbit/s relayed at most, each direction (0: no limit)")
	fs.StringVar(&r.relayFor, "relay-for", directory.CallsFromContacts, "whom the directory offers the relay to: contacts or anyone")
}

func (r *relayOptions) validate() error {
	switch {
	case !r.on:
		return nil
	case r.maxCalls < 1 || r.maxKbps < 0:
		return badUsage("--relay-max-calls must be 1 or more and --relay-max-kbps 0 or more")
	case r.relayFor != directory.CallsFromContacts && r.relayFor != directory.CallsFromAnyone:
		return badUsage("--relay-for %q: want contacts or anyone", r.relayFor)
	}
	if r.publicIP != "" {
		if _, err := netip.ParseAddr(r.publicIP); err != nil {
			return badUsage("--relay-public-ip %q: want an IP address", r.publicIP)
		}
	}
	return nil
}

// allocationsPerCall: each side of a relayed call allocates over UDP and
// over TCP on every relay it is given.
const allocationsPerCall = 4

// start runs the relay and registers it with the directory, which first
// checks that it can reach it; a relay the directory does not take is not
// run. The returned stop ends the relay and its heartbeats.
func (r *relayOptions) start(ctx context.Context, client *directory.Client, dirURL string, log *slog.Logger) (stop func(), err error) {
	nothing := func() {}
	if !r.on {
		return nothing, nil
	}
	public, err := r.publicAddr(dirURL)
	if err != nil {
		return nil, err
	}
	secret := rand.Text()
	sn, err := nat.NewSupernode(nat.SupernodeConfig{
		Listen:         r.listen,
		PublicIP:       public,
		AuthSecret:     secret,
		MaxAllocations: r.maxCalls * allocationsPerCall,
		MaxKbps:        r.maxKbps,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	v := directory.VolunteerRelay{
		URLs:     supernodeURLs(sn, public),
		Secret:   secret,
		Capacity: r.maxCalls * allocationsPerCall,
		Load:     sn.Allocations,
		RelayFor: r.relayFor,
	}
	rctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err = client.RegisterRelay(rctx, v)
	cancel()
	if err != nil {
		// Unreachable (behind a NAT), or a directory that takes no
		// volunteers: the client works on without relaying.
		sn.Close()
		why := err.Error()
		if pe := (*directory.ProtocolError)(nil); errors.As(err, &pe) {
			why = pe.Message
		}
		fmt.Printf("not relaying: %s\n", why)
		return nothing, nil
	}
	fmt.Printf("relaying for %s on %s\n", r.relayFor, v.URLs[1])
	kctx, stopBeats := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { client.KeepRelay(kctx, v, log) })
	return func() {
		stopBeats()
		wg.Wait()
		sn.Close()
	}, nil
}

// publicAddr is the address the relay tells others: --relay-public-ip,
// else a specific --relay-listen host, else the local address of the
// route to the directory.
func (r *relayOptions) publicAddr(dirURL string) (netip.Addr, error) {
	if r.publicIP != "" {
		return netip.MustParseAddr(r.publicIP), nil // checked by validate
	}
	host, _, err := net.SplitHostPort(r.listen)
	if err != nil {
		return netip.Addr{}, badUsage("--relay-listen %q: %v", r.listen, err)
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return a, nil
	}
	first, _, _ := strings.Cut(dirURL, ",")
	if !strings.Contains(first, "://") {
		first = "ws://" + first
	}
	u, err := url.Parse(first)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("relay: directory URL: %w", err)
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(u.Hostname(), "443")
	}
	conn, err := net.Dial("udp", hostPort) // sends nothing: picks the route
	if err != nil {
		return netip.Addr{}, fmt.Errorf("relay: find this machine's address: %w", err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
