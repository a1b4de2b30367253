package directory

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsReadyTimeout bounds the start of an embedded NATS server and the
// first connection to an external one.
const natsReadyTimeout = 10 * time.Second

// NATSConfig says where a directory keeps its state. The zero value is an
// embedded NATS server holding everything in memory.
type NATSConfig struct {
	// URL of an external NATS server or cluster (nats://host:port, comma
	// separated for several seeds). Empty → an embedded server.
	URL string
	// DataDir is where an embedded server keeps its JetStream file store.
	// Empty → JetStream in memory (state is lost when the process ends).
	// Ignored with URL.
	DataDir string
	// Replicas is how many copies of each key-value bucket a cluster keeps
	// (1, 3 or 5; 0 → 1). Only an external cluster can hold more than one.
	Replicas int
	Logger   *slog.Logger // nil → slog.Default()
}

func (c NATSConfig) validate() error {
	switch c.Replicas {
	case 0, 1, 3, 5:
	default:
		return fmt.Errorf("Replicas %d: want 1, 3 or 5", c.Replicas)
	}
	if c.URL == "" && c.Replicas > 1 {
		return fmt.Errorf("Replicas %d needs an external NATS cluster (URL)", c.Replicas)
	}
	return nil
}

// NATS is a directory's connection to its state: an embedded NATS server
// or an external cluster. Either way the directory uses it the same way:
// accounts in JetStream key-value buckets, presence and signalling on
// subjects, so that several directories on one cluster serve one user base.
type NATS struct {
	conn     *nats.Conn
	js       jetstream.JetStream
	storage  jetstream.StorageType
	replicas int
	embedded *server.Server // nil for an external cluster
	tempDir  string         // removed by Close; set when an in-memory embedded server needs a scratch dir

	// hookMu guards hooks, called after each reconnection.
	hookMu sync.Mutex
	hooks  map[*func()]struct{}
}

// onReconnect calls f (on NATS's callback goroutine) whenever the
// connection comes back after a loss, until the returned function is called.
func (n *NATS) onReconnect(f func()) (remove func()) {
	n.hookMu.Lock()
	defer n.hookMu.Unlock()
	n.hooks[&f] = struct{}{}
	return func() {
		n.hookMu.Lock()
		defer n.hookMu.Unlock()
		delete(n.hooks, &f)
	}
}

func (n *NATS) reconnected() {
	n.hookMu.Lock()
	hooks := make([]func(), 0, len(n.hooks))
	for f := range n.hooks {
		hooks = append(hooks, *f)
	}
	n.hookMu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// ConnectNATS starts an embedded NATS server with JetStream (cfg.URL empty)
// or connects to an external one.
func ConnectNATS(cfg NATSConfig) (*NATS, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("directory state: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &NATS{storage: jetstream.FileStorage, replicas: max(cfg.Replicas, 1), hooks: make(map[*func()]struct{})}
	opts := []nats.Option{
		nats.Name("parley-directory"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("directory: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("directory: NATS reconnected", "server", nc.ConnectedUrlRedacted())
			n.reconnected()
		}),
	}
	url := cfg.URL
	if url == "" {
		if err := n.startEmbedded(cfg.DataDir); err != nil {
			n.Close()
			return nil, fmt.Errorf("directory state: embedded NATS: %w", err)
		}
		opts = append(opts, nats.InProcessServer(n.embedded))
	} else {
		opts = append(opts, nats.Timeout(natsReadyTimeout))
	}
	conn, err := nats.Connect(url, opts...)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("directory state: connect to NATS %s: %w", cmp.Or(url, "(embedded)"), err)
	}
	n.conn = conn
	if n.js, err = jetstream.New(conn); err != nil {
		n.Close()
		return nil, fmt.Errorf("directory state: JetStream: %w", err)
	}
	return n, nil
}

// startEmbedded runs a NATS server inside this process that accepts no
// network connections (DontListen): the directory is its only client.
func (n *NATS) startEmbedded(dataDir string) error {
	storeDir := dataDir
	if storeDir == "" {
		n.storage = jetstream.MemoryStorage
		// JetStream wants a store directory even when every stream is in memory.
		dir, err := os.MkdirTemp("", "parley-nats-")
		if err != nil {
			return err
		}
		n.tempDir, storeDir = dir, dir
	} else {
		storeDir = filepath.Join(dataDir, "nats")
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			return err
		}
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "parley-directory",
		DontListen: true,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return err
	}
	n.embedded = ns
	ns.Start()
	if !ns.ReadyForConnections(natsReadyTimeout) {
		return fmt.Errorf("not ready within %v", natsReadyTimeout)
	}
	return nil
}

// Ready reports whether the connection to NATS is up, so that state can be
// read and written.
func (n *NATS) Ready() bool { return n.conn != nil && n.conn.IsConnected() }

// Close closes the connection and shuts an embedded server down.
func (n *NATS) Close() error {
	if n.conn != nil {
		n.conn.Close()
	}
	if n.embedded != nil {
		n.embedded.Shutdown()
		n.embedded.WaitForShutdown()
	}
	if n.tempDir != "" {
		if err := os.RemoveAll(n.tempDir); err != nil {
			return fmt.Errorf("close directory state: %w", err)
		}
	}
	return nil
}
