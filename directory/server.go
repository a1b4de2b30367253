package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// Defaults of ServerConfig and ClientConfig.
const (
	defaultPingInterval = 15 * time.Second
	defaultLoginTimeout = 10 * time.Second
)

// minMessageBytes keeps MaxMessageBytes large enough for every frame but a
// large signal payload.
const minMessageBytes = 1 << 10

// ServerConfig configures a Server. The zero value is a usable in-memory directory.
type ServerConfig struct {
	Store           Store        // nil → in-memory, closed by Server.Close; a given Store stays the caller's to close
	Logger          *slog.Logger // nil → slog.Default()
	MaxMessageBytes int          // limit on one client frame; 0 → 64 KiB

	// PingInterval is how often the server pings each connection; a peer that
	// has not answered within the next interval is dropped, so a dead
	// connection goes within two intervals. 0 → 15 s.
	PingInterval time.Duration
	// LoginTimeout is how long a connection may stay unauthenticated. 0 → 10 s.
	LoginTimeout time.Duration
}

func (c ServerConfig) validate() error {
	if c.MaxMessageBytes != 0 && c.MaxMessageBytes < minMessageBytes {
		return fmt.Errorf("MaxMessageBytes %d is below the minimum %d", c.MaxMessageBytes, minMessageBytes)
	}
	if c.PingInterval < 0 {
		return fmt.Errorf("negative PingInterval %v", c.PingInterval)
	}
	if c.LoginTimeout < 0 {
		return fmt.Errorf("negative LoginTimeout %v", c.LoginTimeout)
	}
	return nil
}

// Server is the directory: it authenticates users, answers lookups, pushes
// presence and relays signalling between online users.
type Server struct {
	store           Store
	ownsStore       bool
	log             *slog.Logger
	maxMessageBytes int
	pingInterval    time.Duration
	loginTimeout    time.Duration
	mux             *http.ServeMux

	ctx      context.Context // bounds storage calls; cancelled by Close
	cancel   context.CancelFunc
	sessions sync.WaitGroup // one per WebSocket request being served

	// mu guards the following fields.
	mu     sync.Mutex
	closed bool
	all    map[*session]struct{}
	// online maps a username to its session; a newer login replaces the entry.
	online map[string]*session
	// watchers maps a username to the sessions following its presence.
	watchers map[string]map[*session]struct{}
}

// NewServer returns a directory serving cfg.Store.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("directory server config: %w", err)
	}
	s := &Server{
		store:           cfg.Store,
		log:             cfg.Logger,
		maxMessageBytes: cfg.MaxMessageBytes,
		pingInterval:    cfg.PingInterval,
		loginTimeout:    cfg.LoginTimeout,
		mux:             http.NewServeMux(),
		all:             make(map[*session]struct{}),
		online:          make(map[string]*session),
		watchers:        make(map[string]map[*session]struct{}),
	}
	if s.store == nil {
		s.store, s.ownsStore = NewMemoryStore(), true
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxMessageBytes == 0 {
		s.maxMessageBytes = wire.DefaultMaxMessageBytes
	}
	if s.pingInterval == 0 {
		s.pingInterval = defaultPingInterval
	}
	if s.loginTimeout == 0 {
		s.loginTimeout = defaultLoginTimeout
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux.HandleFunc("GET "+wire.Path, s.serveWebSocket)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	return s, nil
}

// Handler serves the WebSocket at /v1/ws and GET /healthz.
func (s *Server) Handler() http.Handler { return s.mux }

// Close closes every session (status 1001, going away), waits for all the
// goroutines the server started, and closes the store if the server made it.
// Later connections are refused with 503.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sessions := make([]*session, 0, len(s.all))
	for ss := range s.all {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()

	s.cancel()
	for _, ss := range sessions {
		ss.close(websocket.StatusGoingAway, "directory shutting down")
	}
	s.sessions.Wait()
	if s.ownsStore {
		if err := s.store.Close(); err != nil {
			return fmt.Errorf("close directory store: %w", err)
		}
	}
	return nil
}

// serveHealth answers 200 while the server serves. A Server exists only once
// its store is open, so that is also "the store is ready".
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	// Adding under mu while not closed orders every Add before Close's Wait,
	// so Close also waits for handlers that are still between here and run.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "directory shutting down", http.StatusServiceUnavailable)
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	defer s.sessions.Done()

	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Debug("directory: websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ss := newSession(s, conn, r.RemoteAddr)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "directory shutting down")
		return
	}
	s.all[ss] = struct{}{}
	s.mu.Unlock()

	ss.run()
}

// register makes ss the session of user, queues ack as its first frame
// after hello (before anything relayed to the newly visible session) and
// tells followers that user is online. A previous session of the same user
// is closed: the newest login takes over, which is also what a reconnecting
// client needs while its old connection has not timed out yet.
func (s *Server) register(ss *session, user string, ack []byte) {
	s.mu.Lock()
	ss.user = user
	ss.enqueue(ack)
	previous := s.online[user]
	s.online[user] = ss
	if previous == nil {
		s.pushPresenceLocked(user, wire.StatusOnline)
	}
	s.mu.Unlock()
	if previous != nil {
		previous.close(statusReplaced, "replaced by a newer login of this user")
	}
}

// unregister forgets ss; if it was its user's current session, followers
// learn that the user is offline.
func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, ss)
	for user := range ss.watching {
		delete(s.watchers[user], ss)
		if len(s.watchers[user]) == 0 {
			delete(s.watchers, user)
		}
	}
	if ss.user != "" && s.online[ss.user] == ss {
		delete(s.online, ss.user)
		s.pushPresenceLocked(ss.user, wire.StatusOffline)
	}
}

// maxWatchesPerSession bounds the presence subscriptions of one session, and
// so the memory one client can make the server hold.
const maxWatchesPerSession = 1000

// follow subscribes ss to user's presence changes and reports whether user is online.
func (s *Server) follow(ss *session, user string) (online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := ss.watching[user]; !ok && len(ss.watching) < maxWatchesPerSession {
		ss.watching[user] = struct{}{}
		if s.watchers[user] == nil {
			s.watchers[user] = make(map[*session]struct{})
		}
		s.watchers[user][ss] = struct{}{}
	}
	return s.online[user] != nil
}

// sessionOf returns user's current session, or nil if user is offline.
func (s *Server) sessionOf(user string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online[user]
}

// presenceAudienceLocked returns the sessions told about user's presence
// changes. In this cut that is every session that looked user up; the
// contacts work narrows it to accepted contacts here and nowhere else.
func (s *Server) presenceAudienceLocked(user string) []*session {
	audience := make([]*session, 0, len(s.watchers[user]))
	for ss := range s.watchers[user] {
		audience = append(audience, ss)
	}
	return audience
}

func (s *Server) pushPresenceLocked(user, status string) {
	audience := s.presenceAudienceLocked(user)
	if len(audience) == 0 {
		return
	}
	frame, err := wire.Encode(&wire.Presence{User: user, Status: status})
	if err != nil {
		s.log.Error("directory: encode presence", "err", err)
		return
	}
	for _, ss := range audience {
		ss.enqueue(frame)
	}
}

// accountExists reports whether user is registered.
func (s *Server) accountExists(user string) (bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	_, err := s.store.Account(ctx, user)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoSuchUser):
		return false, nil
	}
	return false, err
}

// claim binds user to key, or fails with ErrNameTaken.
func (s *Server) claim(user string, key []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	return s.store.ClaimAccount(ctx, user, key)
}

// storeTimeout bounds one storage call made for a request.
const storeTimeout = 5 * time.Second
