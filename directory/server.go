package directory

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

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

// ServerConfig configures a Server. The zero value is a usable directory
// whose state lives in an embedded, in-memory NATS server.
type ServerConfig struct {
	// NATS holds the directory's state and routes presence and signalling
	// between directories. nil → an embedded in-memory NATS, closed by
	// Server.Close; a given NATS stays the caller's to close.
	NATS   *NATS
	Logger *slog.Logger // nil → slog.Default()
	// MaxMessageBytes is the limit on one client frame; 0 → 64 KiB.
	MaxMessageBytes int

	// PingInterval is how often the server pings each connection; a peer that
	// has not answered within the next interval is dropped, so a dead
	// connection goes within two intervals. 0 → 15 s.
	PingInterval time.Duration
	// LoginTimeout is how long a connection may stay unauthenticated. 0 → 10 s.
	LoginTimeout time.Duration
	// NodeProbeInterval is how often the directory checks that the other
	// directories on its NATS holding users its sessions follow are still
	// there; the users of one that vanished are shown offline. 0 → 1 s.
	NodeProbeInterval time.Duration
	// Relays configures the registry of supernodes and volunteer relays
	// whose ICE servers clients are given (relays.go).
	Relays RelayConfig
}

func (c ServerConfig) validate() error {
	if c.MaxMessageBytes != 0 && c.MaxMessageBytes < minMessageBytes {
		return fmt.Errorf("MaxMessageBytes %d is below the minimum %d", c.MaxMessageBytes, minMessageBytes)
	}
	if c.PingInterval < 0 {
		return fmt.Errorf("negative PingInterval %v", c.PingInterval)
	}
	if err := c.Relays.Validate(); err != nil {
		return err
	}
	if c.LoginTimeout < 0 {
		return fmt.Errorf("negative LoginTimeout %v", c.LoginTimeout)
	}
	if c.NodeProbeInterval < 0 {
		return fmt.Errorf("negative NodeProbeInterval %v", c.NodeProbeInterval)
	}
	return nil
}

// NATS subjects. A session subscribes to its user's subject, so a request
// to it finds the user on whichever directory serves them, and NATS answers
// "no responders" at once when the user is offline everywhere. Every
// directory follows every presence subject and tells its own watchers.
const (
	userSubjectPrefix     = "parley.user."
	deviceSubjectPrefix   = "parley.device."
	presenceSubjectPrefix = "parley.presence."
	presenceWildcard      = presenceSubjectPrefix + "*"
	// opHeader says what a message to a user subject asks of the session.
	opHeader    = "Parley-Op"
	opSignal    = "signal"     // deliver the frame in the body if fromHeader may call; reply routeOK, routeFull or routeGone
	opKick      = "kick"       // (device subject) a newer login of the device took over: reply, then close
	opStatus    = "status"     // reply with the presence (presenceInfo) fromHeader may see
	opContact   = "contact"    // the user's record of peerHeader changed: update, push the body if any; reply followChanged or not
	opPush      = "push"       // push the body to the client
	opSetStatus = "set-status" // the user chose a status (body: presenceInfo): keep and announce it
	// sentHeader carries when a presence change was published (Unix ns), for
	// the fan-out latency histogram.
	sentHeader = "Parley-Sent"
	routeOK    = "ok"
	routeFull  = "full" // the recipient's queue is (nearly) full: the sender is refused
	routeGone  = "gone" // the session ended, or does not take the sender's calls
	// followChanged is the reply to opContact when the session started or
	// stopped following the peer's presence.
	followChanged = "follow-changed"
	// routeQueue is how many routed messages may wait for the dispatcher.
	routeQueue = 1 << 16
	// routeTimeout bounds one request to another session.
	routeTimeout = 2 * time.Second
)

func userSubject(user string) string { return userSubjectPrefix + natsToken(user) }

// deviceSubject is the subject of user's device; logins that name no
// device share one, "_", and so take each other's session over.
func deviceSubject(user, device string) string {
	return deviceSubjectPrefix + natsToken(user) + "." + natsToken(cmp.Or(device, "_"))
}
func presenceSubject(user string) string { return presenceSubjectPrefix + natsToken(user) }

// Server is the directory: it authenticates users, answers lookups, pushes
// presence and relays signalling, to its own sessions and, through NATS, to
// those of every other directory on the same NATS.
type Server struct {
	nats            *NATS
	ownsNATS        bool
	store           Store
	log             *slog.Logger
	metrics         *metrics
	maxMessageBytes int
	pingInterval    time.Duration
	loginTimeout    time.Duration
	probeInterval   time.Duration
	mux             *http.ServeMux
	// node names this directory on NATS; it answers probes at nodeSubject(node).
	node string

	ctx      context.Context // bounds storage and routing calls; cancelled by Close
	cancel   context.CancelFunc
	sessions sync.WaitGroup // one per WebSocket request being served

	routes      chan *nats.Msg // messages of presence and user subscriptions, for routeRunLoop
	presenceSub *nats.Subscription
	routeDone   chan struct{}
	nodeSub     *nats.Subscription
	probeDone   chan struct{}
	// stopReannounce removes the NATS reconnect hook.
	stopReannounce func()
	// relays is the registry of supernodes and volunteer relays (relays.go).
	relays *relayRegistry
	// inbox keeps chat messages until they are delivered (inbox.go).
	inbox jetstream.KeyValue

	// mu guards the following fields.
	mu     sync.Mutex
	closed bool
	all    map[*session]struct{}
	// bySub maps a user subscription to the session it was made for.
	bySub map[*nats.Subscription]*session
	// watchers maps a username to the local sessions following its presence.
	watchers map[string]*watch
	// holders counts, per node, the watched users it holds (watch.node).
	holders map[string]int
	// limits holds the rate limits of each user with a session here.
	limits map[string]*userLimits
}

// NewServer returns a directory keeping its state in cfg.NATS.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("directory server config: %w", err)
	}
	s := &Server{
		nats:            cfg.NATS,
		log:             cfg.Logger,
		metrics:         newMetrics(),
		maxMessageBytes: cfg.MaxMessageBytes,
		pingInterval:    cfg.PingInterval,
		loginTimeout:    cfg.LoginTimeout,
		probeInterval:   cmp.Or(cfg.NodeProbeInterval, defaultNodeProbeInterval),
		mux:             http.NewServeMux(),
		node:            newNodeID(),
		routes:          make(chan *nats.Msg, routeQueue),
		routeDone:       make(chan struct{}),
		probeDone:       make(chan struct{}),
		all:             make(map[*session]struct{}),
		bySub:           make(map[*nats.Subscription]*session),
		watchers:        make(map[string]*watch),
		holders:         make(map[string]int),
		limits:          make(map[string]*userLimits),
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
	if s.nats == nil {
		n, err := ConnectNATS(NATSConfig{Logger: s.log})
		if err != nil {
			return nil, err
		}
		s.nats, s.ownsNATS = n, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeReadyTimeout)
	defer cancel()
	store, err := OpenStore(ctx, s.nats)
	if err != nil {
		s.closeNATS()
		return nil, err
	}
	s.store = store
	if s.inbox, err = openInbox(ctx, s.nats); err != nil {
		s.closeNATS()
		return nil, fmt.Errorf("directory: %w", err)
	}
	s.presenceSub, err = s.nats.conn.ChanSubscribe(presenceWildcard, s.routes)
	if err != nil {
		s.closeNATS()
		return nil, fmt.Errorf("directory: follow presence: %w", err)
	}
	// Probes are answered on NATS's goroutine for this subscription, so
	// that a busy route queue does not make the node look gone.
	s.nodeSub, err = s.nats.conn.Subscribe(nodeSubject(s.node), func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		_ = s.presenceSub.Unsubscribe()
		s.closeNATS()
		return nil, fmt.Errorf("directory: answer node probes: %w", err)
	}
	if err := s.startRelays(ctx, cfg.Relays); err != nil {
		_ = s.presenceSub.Unsubscribe()
		_ = s.nodeSub.Unsubscribe()
		s.closeNATS()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stopReannounce = s.nats.onReconnect(s.reannounce)
	go func() {
		defer close(s.routeDone)
		s.routeRunLoop()
	}()
	go func() {
		defer close(s.probeDone)
		s.probeRunLoop()
	}()
	s.mux.HandleFunc("GET "+wire.Path, s.serveWebSocket)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	return s, nil
}

func (s *Server) closeNATS() {
	if s.ownsNATS {
		if err := s.nats.Close(); err != nil {
			s.log.Warn("directory: close NATS", "err", err)
		}
	}
}

// Handler serves the WebSocket at /v1/ws, GET /healthz and GET /metrics.
func (s *Server) Handler() http.Handler { return s.mux }

// Close closes every session (status 1001, going away: clients should
// reconnect, to another directory if there is one), waits for all the
// goroutines the server started, and closes the NATS connection if the
// server made it. Later connections are refused with 503.
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

	for _, ss := range sessions {
		ss.close(websocket.StatusGoingAway, "directory shutting down")
	}
	s.sessions.Wait()
	s.stopReannounce()
	s.cancel()
	<-s.routeDone
	<-s.probeDone
	s.relays.close()
	_ = s.presenceSub.Unsubscribe()
	_ = s.nodeSub.Unsubscribe()
	if s.ownsNATS {
		if err := s.nats.Close(); err != nil {
			return fmt.Errorf("close directory: %w", err)
		}
	}
	return nil
}

// serveHealth answers 200 while the server serves and its NATS connection
// is up, so that state can be read and written; 503 otherwise.
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	case !s.nats.Ready():
		http.Error(w, "storage not reachable", http.StatusServiceUnavailable)
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
	handedOver := false
	defer func() {
		if !handedOver {
			s.sessions.Done()
		}
	}()

	hijack := &smallBuffers{ResponseWriter: w}
	// The library calls OnPingReceived from the session's read loop only,
	// which starts after ss is set.
	var ss *session
	conn, err := websocket.Accept(hijack, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			ss.heard()
			return true
		},
	})
	if err != nil {
		s.log.Debug("directory: websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ss = newSession(s, conn, hijack, r.RemoteAddr)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "directory shutting down")
		return
	}
	s.all[ss] = struct{}{}
	s.mu.Unlock()

	// The session runs on a goroutine of its own, so that this handler
	// returns and net/http frees the request, its buffers and the deeper
	// stack of its goroutine: per idle client, only the session stays.
	handedOver = true
	go ss.run(s.sessions.Done)
}

// connBufferSize is the size of a session's read and write buffers. Frames
// are mostly a few hundred bytes; larger ones bypass the buffers.
const connBufferSize = 512

// smallBuffers gives a hijacked connection buffers of connBufferSize
// instead of net/http's 4 KiB each, which every idle client would hold.
type smallBuffers struct {
	http.ResponseWriter
	// Set by Hijack: the connection and the buffered reader of it, and
	// whether bytes that came with the handshake wait ahead of both.
	conn  net.Conn
	br    *bufio.Reader
	early bool
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = conn
	w.br = bufio.NewReaderSize(conn, connBufferSize)
	if n := brw.Reader.Buffered(); n > 0 { // the client did not wait for the handshake's answer
		early, _ := brw.Reader.Peek(n)
		w.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(connBufferSize, n))
		// Into the buffer, where the WebSocket library looks for them.
		_, _ = w.br.Peek(n)
		w.early = true
	}
	return conn, bufio.NewReadWriter(w.br, bufio.NewWriterSize(conn, connBufferSize)), nil
}

// register makes ss a session of user, queues ack as its first frame
// after hello (before anything relayed to the newly visible session) and,
// if it is the user's first session, tells followers that user is online.
// A previous session of the same user and device, on this directory or
// another, is closed: the newest login takes over, which is also what a
// reconnecting client needs while its old connection has not timed out
// yet. Sessions of the user's other devices stay.
func (s *Server) register(ss *session, user string, ack []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	if ss.control {
		s.mu.Lock()
		ss.user = user
		s.shareLimitsLocked(ss)
		ss.enqueue(ack)
		s.mu.Unlock()
		s.metrics.logins.Add(1)
		return nil
	}
	contacts, err := s.store.Contacts(ctx, user)
	if err != nil {
		return err
	}
	settings, err := s.store.Settings(ctx, user)
	if err != nil {
		return err
	}
	kick := nats.NewMsg(deviceSubject(user, ss.device))
	kick.Header.Set(opHeader, opKick)
	_, err = s.request(ctx, kick)
	if err != nil && !errors.Is(err, errUnanswered) {
		return fmt.Errorf("take over %s's previous session: %w", user, err)
	}
	// Followers learn of the first session only (a takeover or a second
	// device changes nothing for them but where the user is held).
	first := false
	if err != nil {
		_, other, err := s.sessionOf(user)
		first = err == nil && !other
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	sub, err := s.nats.conn.ChanSubscribe(userSubject(user), s.routes)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("subscribe to %s's signals: %w", user, err)
	}
	deviceSub, err := s.nats.conn.ChanSubscribe(deviceSubject(user, ss.device), s.routes)
	if err != nil {
		_ = sub.Unsubscribe()
		s.mu.Unlock()
		return fmt.Errorf("subscribe to %s's device: %w", user, err)
	}
	ss.user, ss.sub, ss.deviceSub = user, sub, deviceSub
	s.bySub[deviceSub] = ss
	s.shareLimitsLocked(ss)
	ss.status, ss.note = cmp.Or(settings.Status, wire.StatusOnline), settings.Note
	for peer, rec := range contacts {
		ss.contacts[peer] = rec.State
		if rec.mutual() {
			s.followLocked(ss, peer)
		}
	}
	s.bySub[sub] = ss
	ss.enqueue(ack)
	vis := ss.visible()
	s.mu.Unlock()

	// Once NATS has the subscription, requests from any directory reach it;
	// only then may followers learn that the user is online.
	if err := s.nats.conn.FlushWithContext(ctx); err != nil {
		s.log.Warn("directory: flush subscription", "user", user, "err", err)
	}
	if first {
		s.publishPresence(user, vis)
	} else {
		s.publishHolder(user, s.node)
	}
	s.metrics.logins.Add(1)
	return nil
}

// unregister forgets ss; if it was its user's last session (and no newer
// login of its device replaced it), followers learn that the user is
// offline.
func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	delete(s.all, ss)
	if l := ss.userLimit; l != nil {
		if l.refs--; l.refs == 0 {
			delete(s.limits, ss.user)
		}
	}
	for user := range ss.watching {
		s.unwatchLocked(ss, user)
	}
	sub, deviceSub, replaced := ss.sub, ss.deviceSub, ss.replaced
	if sub != nil {
		delete(s.bySub, sub)
		delete(s.bySub, deviceSub)
	}
	s.mu.Unlock()
	if sub == nil {
		return
	}
	for _, sb := range []*nats.Subscription{sub, deviceSub} {
		if err := sb.Unsubscribe(); err != nil {
			s.log.Debug("directory: unsubscribe", "user", ss.user, "err", err)
		}
	}
	if replaced {
		return
	}
	s.relays.sessionEnded(ss.user, ss.device)
	// NATS handles a connection's messages in order, so the request below
	// no longer reaches this session: an answer means another device.
	if node, other, err := s.sessionOf(ss.user); err == nil && other {
		s.publishHolder(ss.user, node)
		return
	}
	s.publishPresence(ss.user, presenceInfo{Status: wire.StatusOffline})
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.store.UpdateSettings(ctx, ss.user, func(st *Settings) { st.LastSeen = time.Now().UTC() }); err != nil {
		s.log.Warn("directory: record last seen", "user", ss.user, "err", err)
	}
}

// shareLimitsLocked gives ss its user's rate limits, made for the user's
// first session here.
func (s *Server) shareLimitsLocked(ss *session) {
	l := s.limits[ss.user]
	if l == nil {
		l = &userLimits{
			lookup:  rate.NewLimiter(lookupRate, lookupBurst),
			contact: rate.NewLimiter(contactRate, contactBurst),
		}
		s.limits[ss.user] = l
	}
	l.refs++
	ss.userLimit = l
}

// publishPresence tells every directory that user's visible presence
// changed, and that this directory holds the user unless offline.
func (s *Server) publishPresence(user string, p presenceInfo) {
	if p.Status != wire.StatusOffline {
		p.Node = s.node
	}
	s.publish(user, p)
}

// publishHolder tells every directory that node holds a session of user,
// whose presence did not change.
func (s *Server) publishHolder(user, node string) { s.publish(user, presenceInfo{Node: node}) }

func (s *Server) publish(user string, p presenceInfo) {
	body, err := json.Marshal(p)
	if err != nil {
		s.log.Error("directory: encode presence", "err", err)
		return
	}
	m := nats.NewMsg(presenceSubject(user))
	m.Header.Set(sentHeader, fmt.Sprint(time.Now().UnixNano()))
	m.Data = body
	if err := s.nats.conn.PublishMsg(m); err != nil {
		s.log.Warn("directory: publish presence", "user", user, "err", err)
	}
}

// routeRunLoop handles what NATS routes to this directory: presence
// changes for its watchers and requests to its sessions. It never waits on
// the network: replies and enqueues do not block.
func (s *Server) routeRunLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case m := <-s.routes:
			if m.Sub == s.presenceSub {
				s.fanOutPresence(m)
			} else {
				s.routeToSession(m)
			}
		}
	}
}

func (s *Server) routeToSession(m *nats.Msg) {
	reply := []byte(routeGone)
	s.mu.Lock()
	ss := s.bySub[m.Sub]
	if ss != nil {
		from := m.Header.Get(fromHeader)
		switch m.Header.Get(opHeader) {
		case opSignal:
			switch {
			case !ss.takesCallsFromLocked(from):
			case ss.offer(m.Data):
				reply = []byte(routeOK)
			default:
				reply = []byte(routeFull)
			}
		case opKick:
			ss.replaced = true
			ss.close(statusReplaced, "replaced by a newer login of this user")
			reply = []byte(routeOK)
		case opStatus:
			p := presenceInfo{Status: wire.StatusOffline, AutoAccept: ss.autoAccept, Node: s.node}
			if from != "" && ss.showsPresenceToLocked(from) {
				vis := ss.visible()
				p.Status, p.Note = vis.Status, vis.Note
			}
			reply, _ = json.Marshal(p) // cannot fail: strings and a bool
		case opContact:
			reply = []byte(routeOK)
			if s.updateContactLocked(ss, m) {
				reply = []byte(followChanged)
			}
		case opPush:
			if node := m.Header.Get(nodeHeader); node != "" {
				s.learnHolderLocked(m.Header.Get(peerHeader), node)
			}
			ss.enqueue(m.Data)
			reply = []byte(routeOK)
		case opSetStatus:
			var p presenceInfo
			if json.Unmarshal(m.Data, &p) == nil {
				ss.status, ss.note = p.Status, p.Note
				s.publishPresence(ss.user, ss.visible())
			}
			reply = []byte(routeOK)
		}
	}
	s.mu.Unlock()
	if m.Reply != "" {
		if err := m.Respond(reply); err != nil {
			s.log.Debug("directory: reply to route", "subject", m.Subject, "err", err)
		}
	}
}

// updateContactLocked applies a contact update to ss and reports whether
// ss started or stopped following the peer.
func (s *Server) updateContactLocked(ss *session, m *nats.Msg) (followChanged bool) {
	peer := m.Header.Get(peerHeader)
	if state := m.Header.Get(stateHeader); state == "" {
		delete(ss.contacts, peer)
	} else {
		ss.contacts[peer] = state
	}
	_, was := ss.watching[peer]
	follow := m.Header.Get(followHeader) == "1"
	switch {
	case follow && !was:
		s.followLocked(ss, peer)
	case !follow && was:
		s.unfollowLocked(ss, peer)
	}
	if len(m.Data) > 0 {
		ss.enqueue(m.Data)
	}
	return follow != was
}

// maxWatchesPerSession bounds the presence subscriptions of one session, and
// so the memory one client can make the server hold.
const maxWatchesPerSession = 1000

// followLocked subscribes ss to user's presence changes.
func (s *Server) followLocked(ss *session, user string) {
	if _, ok := ss.watching[user]; !ok && len(ss.watching) < maxWatchesPerSession {
		ss.watching[user] = struct{}{}
		w := s.watchers[user]
		if w == nil {
			w = &watch{sessions: make(map[*session]struct{})}
			s.watchers[user] = w
		}
		w.sessions[ss] = struct{}{}
	}
}

func (s *Server) unfollowLocked(ss *session, user string) {
	delete(ss.watching, user)
	s.unwatchLocked(ss, user)
}

// unwatchLocked removes ss from user's watchers, forgetting the user when
// no session here follows them any more.
func (s *Server) unwatchLocked(ss *session, user string) {
	w := s.watchers[user]
	if w == nil {
		return
	}
	delete(w.sessions, ss)
	if len(w.sessions) == 0 {
		s.setHolderLocked(w, "")
		delete(s.watchers, user)
	}
}

// fanOutPresence tells the local sessions following a user, its accepted
// contacts, about a change of its presence.
func (s *Server) fanOutPresence(m *nats.Msg) {
	user := userOfToken(m.Subject[len(presenceSubjectPrefix):])
	var p presenceInfo
	if err := json.Unmarshal(m.Data, &p); err != nil {
		s.log.Warn("directory: malformed presence on NATS", "user", user, "err", err)
		return
	}
	if p.Status == "" { // only the holder changed
		s.mu.Lock()
		if w := s.watchers[user]; w != nil {
			s.setHolderLocked(w, p.Node)
		}
		s.mu.Unlock()
		return
	}
	frame, err := wire.Encode(&wire.Presence{User: user, Status: p.Status, Note: p.Note})
	if err != nil {
		s.log.Error("directory: encode presence", "err", err)
		return
	}
	s.mu.Lock()
	if w := s.watchers[user]; w != nil {
		s.setHolderLocked(w, p.Node)
		for ss := range w.sessions {
			ss.enqueue(frame)
		}
	}
	s.mu.Unlock()
	s.metrics.observeFanOut(m.Header.Get(sentHeader))
}

// deliver routes a signal frame to every session of user (every device
// rings); it returns nil if one took it, else ErrOffline, errRecipientFull,
// or an error of the route.
func (s *Server) deliver(from, user string, frame []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, routeTimeout)
	defer cancel()
	inbox := s.nats.conn.NewRespInbox()
	replies, err := s.nats.conn.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("route signal to %s: %w", user, err)
	}
	defer replies.Unsubscribe()
	m := nats.NewMsg(userSubject(user))
	m.Reply = inbox
	m.Header.Set(opHeader, opSignal)
	m.Header.Set(fromHeader, from)
	m.Data = frame
	if err := s.nats.conn.PublishMsg(m); err != nil {
		return fmt.Errorf("route signal to %s: %w", user, err)
	}
	// The first answer usually settles it. A session that does not take
	// the sender's calls says "gone" though another device of the user
	// may take them: wait a moment for a better answer then. "No
	// session" waits as long, so that a stranger cannot tell an online user
	// who refuses them from one who is offline by the time it takes.
	graced := false
	for {
		reply, err := replies.NextMsgWithContext(ctx)
		switch {
		case err != nil && s.ctx.Err() != nil:
			return fmt.Errorf("route signal to %s: %w", user, err)
		case err != nil:
			return ErrOffline // nobody took it in time
		case reply.Header.Get("Status") == "503": // NATS: no responders
			time.Sleep(refusalGrace)
			return ErrOffline
		}
		switch string(reply.Data) {
		case routeOK:
			return nil
		case routeFull:
			return errRecipientFull
		}
		if !graced {
			graced = true
			var cancelGrace context.CancelFunc
			ctx, cancelGrace = context.WithTimeout(ctx, refusalGrace)
			defer cancelGrace()
		}
	}
}

// refusalGrace is how long deliver waits for another device to take a
// signal that one device refused.
const refusalGrace = 50 * time.Millisecond

// request sends m to a user's subject and waits for the first reply, at
// most routeTimeout. It fails with errUnanswered when nobody answers: no
// session anywhere (NATS answers "no responders" at once), or only one
// whose directory died before NATS noticed (the wait times out). Either
// way the user cannot be reached now.
func (s *Server) request(ctx context.Context, m *nats.Msg) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, routeTimeout)
	defer cancel()
	reply, err := s.nats.conn.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) && s.ctx.Err() == nil {
		return nil, errUnanswered
	}
	return reply, err
}

// sessionOf reports whether user has a session on any directory, and
// which node answered for it.
func (s *Server) sessionOf(user string) (node string, found bool, err error) {
	m := nats.NewMsg(userSubject(user))
	m.Header.Set(opHeader, opStatus)
	reply, err := s.request(s.ctx, m)
	switch {
	case errors.Is(err, errUnanswered):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	var p presenceInfo
	_ = json.Unmarshal(reply.Data, &p) // a node that names none still answered
	return p.Node, true, nil
}

// errUnanswered means a request to a user's subject found nobody to answer it.
var errUnanswered = errors.New("no session answers")

// errRecipientFull means the recipient's session has too many frames queued.
var errRecipientFull = errors.New("recipient not keeping up")

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

// storeReadyTimeout bounds how long NewServer waits for storage, such as a
// NATS cluster electing its JetStream leader.
const storeReadyTimeout = 30 * time.Second

// storeTimeout bounds one storage call made for a request.
const storeTimeout = 5 * time.Second
