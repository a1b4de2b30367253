package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/parley-voip/parley/directory"
)

func runDirectory(ctx context.Context, args []string) error {
	var (
		listen, data, logLevel string
		natsURL                string
		replicas               int
		tlsCert, tlsKey        string
		relays                 directory.RelayConfig
	)
	fs := newFlagSet("directory", "directory [flags]", os.Stderr)
	fs.StringVar(&listen, "listen", defaultDirectory, "HOST:PORT to serve WebSocket /v1/ws, /healthz, /metrics on")
	fs.StringVar(&data, "data", "", "directory for the embedded NATS server's state (default $PARLEY_HOME/directory, or ~/.parley/directory)")
	fs.StringVar(&natsURL, "nats", "", "external NATS server or cluster (nats://host:port[,…]) instead of the embedded one; several directories on one NATS serve one user base")
	fs.IntVar(&replicas, "nats-replicas", 1, "copies of the state a NATS cluster keeps (1, 3 or 5; with --nats)")
	fs.StringVar(&tlsCert, "tls-cert", "", "serve TLS (clients use https:// or wss://) with this PEM certificate chain")
	fs.StringVar(&tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&logLevel, "log-level", "info", "log detail on stderr: debug, info, warn or error")
	fs.StringVar(&relays.SupernodeToken, "supernode-token", os.Getenv("PARLEY_SUPERNODE_TOKEN"),
		"token operator supernodes must register with (parley supernode --supernode-token); none: any supernode may (env PARLEY_SUPERNODE_TOKEN)")
	fs.StringVar(&relays.AuthSecret, "auth-secret", os.Getenv("PARLEY_AUTH_SECRET"),
		"TURN REST secret of supernodes that register without their own (their --auth-secret; env PARLEY_AUTH_SECRET)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if err := relays.Validate(); err != nil {
		return badUsage("%v", err)
	}
	if (tlsCert == "") != (tlsKey == "") {
		return badUsage("--tls-cert and --tls-key go together")
	}
	log, err := newLogger(logLevel)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// The heap is mostly idle sessions that live for hours, and garbage
		// comes slowly (a few hundred bytes per presence frame), so
		// collecting at 25 % growth instead of 100 % costs little CPU and
		// keeps resident memory near the live heap: measured with 10,000
		// clients, 25–27 KB of RSS per client at GOGC 100, 19–20 KB at 25.
		debug.SetGCPercent(25)
	}
	if data == "" && natsURL == "" {
		home := os.Getenv("PARLEY_HOME")
		if home == "" {
			dir, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("no --data given and no home directory: %w", err)
			}
			home = filepath.Join(dir, ".parley")
		}
		data = filepath.Join(home, "directory")
	}
	state, err := directory.ConnectNATS(directory.NATSConfig{URL: natsURL, DataDir: data, Replicas: replicas, Logger: log})
	if err != nil {
		return err
	}
	defer state.Close()
	srv, err := directory.NewServer(directory.ServerConfig{NATS: state, Logger: log, Relays: relays})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	addr := ln.Addr().String()
	if tlsCert != "" {
		// Load the pair now, so that a bad one fails here and not at the first client.
		cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, httpSrv.TLSConfig)
		addr = "https://" + addr
	}
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("directory listening", "addr", addr, "data", data, "nats", natsURL)
	if relays.SupernodeToken == "" {
		log.Info("any supernode may register: give --supernode-token to take only yours")
	}
	fmt.Printf("directory listening on %s\n", addr)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Close() // ends the WebSocket sessions, which Shutdown does not wait for
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
