package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-voip/parley/directory"
)

func runDirectory(ctx context.Context, args []string) error {
	var listen, data, logLevel string
	fs := newFlagSet("directory", "directory [flags]", os.Stderr)
	fs.StringVar(&listen, "listen", defaultDirectory, "HOST:PORT to serve WebSocket /v1/ws, /healthz on")
	fs.StringVar(&data, "data", "", "directory for persistent state (default $PARLEY_HOME/directory, or ~/.parley/directory)")
	fs.StringVar(&logLevel, "log-level", "info", "log detail on stderr: debug, info, warn or error")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	log, err := newLogger(logLevel)
	if err != nil {
		return err
	}
	if data == "" {
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
	store, err := directory.OpenFileStore(data)
	if err != nil {
		return fmt.Errorf("directory storage: %w", err)
	}
	srv, err := directory.NewServer(directory.ServerConfig{Store: store, Logger: log})
	if err != nil {
		store.Close()
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("directory listening", "addr", ln.Addr().String(), "data", data)
	fmt.Printf("directory listening on %s\n", ln.Addr())

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
