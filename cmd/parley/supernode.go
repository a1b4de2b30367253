package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/nat"
)

func runSupernode(ctx context.Context, args []string) error {
	var (
		cfg                  nat.SupernodeConfig
		publicIP, relayPorts string
		metricsAddr, dir     string
		logLevel             string
		tlsCert, tlsKey      string
		token                string
		capacity             int
	)
	fs := newFlagSet("supernode", "supernode --listen HOST:PORT --public-ip IP (--directory URL [--supernode-token T] | --auth-secret SECRET) [flags]", os.Stderr)
	fs.StringVar(&cfg.Listen, "listen", "0.0.0.0:3478", "HOST:PORT for STUN and TURN, on UDP and TCP")
	fs.StringVar(&publicIP, "public-ip", "", "the address peers reach the relay ports on (required)")
	fs.StringVar(&cfg.AuthSecret, "auth-secret", os.Getenv("PARLEY_AUTH_SECRET"),
		"TURN REST shared secret, as coturn's static-auth-secret (env PARLEY_AUTH_SECRET); with --directory and none, a random one is agreed at registration")
	fs.Func("allow-peer", "relay to this network although it is private, loopback, … (CIDR; repeatable)", func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return err
		}
		cfg.AllowPeers = append(cfg.AllowPeers, p)
		return nil
	})
	fs.IntVar(&cfg.MaxAllocationsPerUser, "max-allocations-per-user", 0, "allocations one user may hold at once (0: unlimited)")
	fs.IntVar(&cfg.MaxKbpsPerUser, "max-kbps-per-user", 0, "relayed kbit/s per user and direction; more is dropped (0: unlimited)")
	fs.StringVar(&relayPorts, "relay-ports", "61001-65535", "MIN-MAX relay ports, outside the kernel's ephemeral range")
	fs.IntVar(&cfg.UDPListeners, "udp-listeners", 0, "UDP sockets sharing the port, each with its own reader (0: one per CPU)")
	fs.StringVar(&cfg.TLSListen, "tls-listen", "", "HOST:PORT for TURN over TLS (e.g. :443, for networks that pass only HTTPS); needs --tls-cert and --tls-key")
	fs.StringVar(&tlsCert, "tls-cert", "", "PEM certificate (chain) for --tls-listen")
	fs.StringVar(&tlsKey, "tls-key", "", "PEM private key for --tls-listen")
	fs.StringVar(&metricsAddr, "metrics", "", "HOST:PORT to serve Prometheus /metrics on (default: none)")
	fs.StringVar(&dir, "directory", "", "the directory to register with, which then hands clients credentials for this supernode (http[s]://, ws[s]:// or host:port; comma-separated: tried in turn)")
	fs.StringVar(&token, "supernode-token", os.Getenv("PARLEY_SUPERNODE_TOKEN"), "the directory's --supernode-token, if it has one (env PARLEY_SUPERNODE_TOKEN)")
	fs.IntVar(&capacity, "capacity", 0, "allocations to take at most, as told to the directory, which ranks supernodes by load against it (0: no limit)")
	fs.StringVar(&logLevel, "log-level", "info", "log detail on stderr: debug, info, warn or error")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	log, err := newLogger(logLevel)
	if err != nil {
		return badUsage("%v", err)
	}
	if cfg.PublicIP, err = netip.ParseAddr(publicIP); err != nil {
		return badUsage("--public-ip %q: want an IP address", publicIP)
	}
	if cfg.RelayPortMin, cfg.RelayPortMax, err = parsePortRange(relayPorts); err != nil {
		return badUsage("--relay-ports %q: %v", relayPorts, err)
	}
	switch {
	case dir == "" && cfg.AuthSecret == "":
		return badUsage("give --directory to register, or --auth-secret to share a secret with clients")
	case capacity < 0:
		return badUsage("--capacity must be 0 or more")
	}
	cfg.MaxAllocations = capacity
	// A secret of its own, agreed with the directory at registration.
	secretAgreed := cfg.AuthSecret == ""
	if secretAgreed {
		cfg.AuthSecret = rand.Text()
	}
	if (cfg.TLSListen == "") != (tlsCert == "" || tlsKey == "") {
		return badUsage("--tls-listen needs --tls-cert and --tls-key, and they need it")
	}
	if cfg.TLSListen != "" {
		cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	cfg.Logger = log
	if os.Getenv("GOGC") == "" {
		// Relaying makes a few short-lived objects per packet on a small
		// heap, so the default GOGC collects many times a second, and each
		// cycle stalls the read loops. Through turnutils_uclient: 1,000
		// calls lost 3.5 % (50 ms mean round trip) at GOGC 100 and none
		// (0.35 ms) at 400; 1,200 calls lost 2.4 % at 400 and none
		// (0.2 ms) at 800 — for a few MB more heap.
		debug.SetGCPercent(800)
	}
	sn, err := nat.NewSupernode(cfg)
	if err != nil {
		return err
	}
	defer sn.Close()

	serveErr := make(chan error, 1)
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			sn.WriteMetrics(w)
		})
		httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- httpSrv.Serve(ln) }()
		defer httpSrv.Close()
		fmt.Printf("supernode metrics on %s\n", ln.Addr())
	}
	fmt.Printf("supernode listening on udp %s tcp %s\n", sn.UDPAddr(), sn.TCPAddr())
	if sn.TLSAddr() != nil {
		fmt.Printf("supernode listening on tls %s\n", sn.TLSAddr())
	}
	log.Info("supernode up", "udp", sn.UDPAddr(), "tcp", sn.TCPAddr(), "public_ip", cfg.PublicIP, "relay_ports", relayPorts)
	if dir != "" {
		reg := directory.SupernodeRegistration{URLs: supernodeURLs(sn, cfg.PublicIP), Capacity: capacity}
		reg.ID = supernodeID(reg.URLs[0])
		if secretAgreed {
			reg.Secret = cfg.AuthSecret
		}
		r, err := directory.NewSupernodeRegistrar(directory.SupernodeRegistrarConfig{
			Directory: dir, Token: token, Registration: reg, Load: sn.Allocations, Logger: log})
		if err != nil {
			return badUsage("--directory: %v", err)
		}
		rctx, cancel := context.WithTimeout(ctx, dialTimeout)
		err = r.Register(rctx)
		cancel()
		switch {
		case errors.Is(err, directory.ErrRegistrationRefused) && secretAgreed:
			return err
		case errors.Is(err, directory.ErrRegistrationRefused):
			// Clients given credentials made with --auth-secret can still use it.
			log.Error("supernode: the directory refused the registration; serving only clients given credentials made with --auth-secret", "err", err)
		case err != nil:
			log.Warn("supernode: directory not reachable yet; registering at the next heartbeat", "err", err)
		default:
			fmt.Printf("supernode registered with %s as %s\n", dir, reg.ID)
		}
		done := make(chan struct{})
		rctx, stop := context.WithCancel(ctx)
		go func() {
			defer close(done)
			r.Run(rctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}

	select {
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
	case <-ctx.Done():
	}
	return nil
}

// supernodeURLs are the STUN and TURN URLs clients reach sn on.
func supernodeURLs(sn *nat.Supernode, public netip.Addr) []string {
	hostPort := func(a net.Addr) string {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort(public.String(), port)
	}
	udp := hostPort(sn.UDPAddr())
	urls := []string{"stun:" + udp, "turn:" + udp + "?transport=udp", "turn:" + hostPort(sn.TCPAddr()) + "?transport=tcp"}
	if sn.TLSAddr() != nil {
		urls = append(urls, "turns:"+hostPort(sn.TLSAddr())+"?transport=tcp")
	}
	return urls
}

// supernodeID names a supernode by its address, so that one restarted
// there takes its old registration over.
func supernodeID(stunURL string) string {
	return strings.NewReplacer(":", "-", ".", "-", "[", "", "]", "").Replace(strings.TrimPrefix(stunURL, "stun:"))
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, _ := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || l > h {
		return 0, 0, errors.New("want MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 65535")
	}
	return uint16(l), uint16(h), nil
}
