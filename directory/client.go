package directory

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory/identity"
	"github.com/parley-voip/parley/directory/internal/wire"
)

const (
	// signalBuffer and presenceBuffer size the channels Signals and
	// PresenceUpdates return.
	signalBuffer   = 128
	presenceBuffer = 64
	// deliveryWait is how long the read loop waits for room in a full
	// channel before it drops the event (and logs it).
	deliveryWait = time.Second
	// maxFrameFromServer caps the frame size a server may announce.
	maxFrameFromServer = 4 << 20
)

// ClientConfig configures Dial.
type ClientConfig struct {
	// URL of the directory: http://host:port, https://…, ws://…, wss://…, or
	// bare host:port (plain ws). Without a path, or with "/", the WebSocket is
	// at /v1/ws; another path is a prefix that /v1/ws is appended to (unless
	// it already ends with /v1/ws), for directories behind a reverse proxy.
	URL      string
	User     string
	Identity *identity.Identity
	Logger   *slog.Logger // nil → slog.Default()
	// PingInterval is how often the client pings the directory; an
	// unanswered ping ends the connection with ErrConnectionLost. 0 → 15 s.
	PingInterval time.Duration
	// Control makes this a control session, for tools that manage contacts
	// and status: it does not take over the user's session, receives no
	// signals or pushes and does not count for presence.
	Control bool
	// CallsFrom says who may call this user and see their presence:
	// CallsFromContacts ("", the default) or CallsFromAnyone.
	CallsFrom string
	// AutoAccept accepts every contact request at once (the echo service).
	AutoAccept bool
	// Device names this device (1-64 of A-Z a-z 0-9 . _ -): a newer login
	// of the same user and device takes the session over, while sessions of
	// the user's other devices stay, all ringing for a call. "" → a random
	// name for this Client, kept across its reconnections.
	Device string
	// Reconnect makes the client log in again, with jittered exponential
	// backoff, whenever the connection is lost or the directory shuts down;
	// URL may then list several directories, comma separated, tried in
	// turn. Requests made while it reconnects fail with ErrConnectionLost.
	// Done is closed only by Close or by an error that reconnecting cannot
	// cure (ErrReplaced, ErrNameTaken, ErrBadSignature).
	Reconnect bool
	// TLS configures wss:// connections; nil → the system's roots (which
	// honour SSL_CERT_FILE and SSL_CERT_DIR).
	TLS *tls.Config
	// HTTPClient makes the WebSocket connections, for tests and benchmarks
	// that choose source addresses; nil → one built from TLS.
	HTTPClient *http.Client
}

func (c ClientConfig) validate() error {
	if !wire.ValidUsername(c.User) {
		return fmt.Errorf("user %q: %w", c.User, ErrBadUsername)
	}
	if c.Identity == nil || len(c.Identity.Private) != ed25519.PrivateKeySize {
		return errors.New("missing or invalid Identity")
	}
	if c.PingInterval < 0 {
		return fmt.Errorf("negative PingInterval %v", c.PingInterval)
	}
	if c.Device != "" && !wire.ValidCallID(c.Device) {
		return fmt.Errorf("Device %q: want 1-64 of A-Z a-z 0-9 . _ -", c.Device)
	}
	switch c.CallsFrom {
	case "", CallsFromContacts, CallsFromAnyone:
	default:
		return fmt.Errorf("CallsFrom %q: want %q or %q", c.CallsFrom, CallsFromContacts, CallsFromAnyone)
	}
	return nil
}

// Reconnection backoff: the first attempt waits about minBackoff, each
// failure doubles the wait up to maxBackoff, and every wait is drawn
// between half and all of it so that clients of a directory that
// restarts do not come back in lockstep.
const (
	minBackoff     = 100 * time.Millisecond
	maxBackoff     = 2 * time.Second
	attemptTimeout = 5 * time.Second
)

// Client is a logged-in connection to the directory, which reconnects on
// its own with ClientConfig.Reconnect. Its methods are safe for concurrent use.
type Client struct {
	cfg          ClientConfig
	endpoints    []string // WebSocket URLs of the directories, tried in turn
	user         string
	log          *slog.Logger
	pingInterval time.Duration

	ctx    context.Context // cancelled by Close; stops the goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Uint64

	signals  chan Signal
	presence chan Presence
	contacts chan Contact
	chats    chan Chat
	done     chan struct{}
	closed   sync.Once

	// mu guards the following fields.
	mu      sync.Mutex
	cur     *link                        // the live connection; nil while reconnecting
	pending map[string]chan wire.Message // request id → where its answer goes
	err     error                        // why the client ended; set once
}

// link is one logged-in WebSocket connection of a Client.
type link struct {
	conn     *websocket.Conn
	endpoint string
	maxBytes int                // the server's limit on one frame from us
	ctx      context.Context    // ends with the connection
	cancel   context.CancelFunc // stops the keep-alive loop and pending writes
	done     chan struct{}      // closed once the connection has ended and err is set

	// mu guards err.
	mu  sync.Mutex
	err error // why the connection ended
}

func (l *link) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Dial connects to the directory and logs in, both bounded by ctx (give it a
// timeout). Errors wrap ErrBadUsername, ErrUnreachable (no WebSocket
// connection), ErrNameTaken, ErrBadSignature or ErrProtocol.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("dial directory: %w", err)
	}
	var endpoints []string
	for _, raw := range strings.Split(cfg.URL, ",") {
		endpoint, err := websocketURL(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("dial directory: %w", err)
		}
		endpoints = append(endpoints, endpoint)
	}
	if cfg.Device == "" {
		cfg.Device = crand.Text()[:16]
	}
	c := &Client{
		cfg:          cfg,
		endpoints:    endpoints,
		user:         cfg.User,
		log:          cfg.Logger,
		pingInterval: cfg.PingInterval,
		signals:      make(chan Signal, signalBuffer),
		presence:     make(chan Presence, presenceBuffer),
		contacts:     make(chan Contact, presenceBuffer),
		chats:        make(chan Chat, chatBuffer),
		done:         make(chan struct{}),
		pending:      make(map[string]chan wire.Message),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.pingInterval == 0 {
		c.pingInterval = defaultPingInterval
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var (
		l       *link
		lastErr error
	)
	for _, endpoint := range endpoints {
		if l, lastErr = c.dialLink(ctx, endpoint); lastErr == nil || !errors.Is(lastErr, ErrUnreachable) {
			break
		}
	}
	if lastErr != nil {
		c.cancel()
		return nil, lastErr
	}
	c.cur = l
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.superviseRunLoop(l)
	}()
	return c, nil
}

// dialLink connects to endpoint and logs in, bounded by ctx.
func (c *Client) dialLink(ctx context.Context, endpoint string) (*link, error) {
	var opts *websocket.DialOptions
	switch {
	case c.cfg.HTTPClient != nil:
		opts = &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient}
	case c.cfg.TLS != nil:
		opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: c.cfg.TLS}}}
	}
	conn, _, err := websocket.Dial(ctx, endpoint, opts)
	if err != nil {
		// The socket's own error says it best ("connect: connection
		// refused"); the WebSocket layers above it only repeat the URL.
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			err = opErr
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, endpoint, err)
	}
	maxBytes, err := login(ctx, conn, &c.cfg)
	if err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("log in to directory %s as %s: %w", endpoint, c.cfg.User, err)
	}
	l := &link{conn: conn, endpoint: endpoint, maxBytes: maxBytes, done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(c.ctx)
	return l, nil
}

// superviseRunLoop serves one connection after another: when one ends it
// logs in again (with ClientConfig.Reconnect) until Close or an error that
// reconnecting cannot cure, then closes the client's channels and Done.
func (c *Client) superviseRunLoop(l *link) {
	defer close(c.done)
	defer close(c.contacts)
	defer close(c.presence)
	defer close(c.signals)
	for {
		c.serve(l)
		err := l.Err()
		if !c.cfg.Reconnect || c.ctx.Err() != nil || !retryable(err) {
			c.setErr(err)
			return
		}
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
		c.log.Info("directory: connection lost; reconnecting", "err", err)
		if l, err = c.redial(l.endpoint); err != nil {
			c.setErr(err)
			return
		}
		c.mu.Lock()
		c.cur = l
		c.mu.Unlock()
		c.log.Info("directory: reconnected", "directory", l.endpoint)
	}
}

// retryable reports whether logging in again may cure err.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrClosed), errors.Is(err, ErrReplaced), errors.Is(err, ErrNameTaken),
		errors.Is(err, ErrBadSignature), errors.Is(err, ErrBadUsername):
		return false
	}
	return true
}

// redial logs in again with jittered exponential backoff, trying the
// directories after the one just lost in turn, until it succeeds, Close is
// called, or an attempt fails in a way retrying cannot cure.
func (c *Client) redial(lost string) (*link, error) {
	next := slices.Index(c.endpoints, lost) + 1
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
		endpoint := c.endpoints[(next+attempt)%len(c.endpoints)]
		ctx, cancel := context.WithTimeout(c.ctx, attemptTimeout)
		l, err := c.dialLink(ctx, endpoint)
		cancel()
		if err == nil {
			return l, nil
		}
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if !retryable(err) {
			return nil, err
		}
		c.log.Debug("directory: reconnect attempt failed", "directory", endpoint, "err", err)
		backoff = min(2*backoff, maxBackoff)
	}
}

// serve runs l until its connection ends: the read loop here, the
// keep-alive loop beside it.
func (c *Client) serve(l *link) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepAliveRunLoop(l)
	}()
	c.readRunLoop(l)
	l.cancel()
	wg.Wait()
	close(l.done)
}

// loginID is the id of the login request, the first on every connection.
const loginID = "login"

// login answers the server's hello and returns the server's frame limit.
func login(ctx context.Context, conn *websocket.Conn, cfg *ClientConfig) (maxBytes int, err error) {
	msg, err := readEvent(ctx, conn)
	if err != nil {
		return 0, err
	}
	hello, ok := msg.(*wire.Hello)
	if !ok {
		return 0, fmt.Errorf("%w: expected hello, got %T", ErrProtocol, msg)
	}
	// Relayed signals can be a little larger than what a client may send;
	// the cap keeps a hostile server from making us buffer huge frames.
	maxBytes = min(hello.MaxBytes, maxFrameFromServer)
	conn.SetReadLimit(int64(maxBytes) + wire.EnvelopeSlack)

	req := &wire.Login{
		Header:     wire.Header{ID: loginID},
		User:       cfg.User,
		Key:        cfg.Identity.Public(),
		Sig:        ed25519.Sign(cfg.Identity.Private, wire.LoginMessage(hello.Nonce, cfg.User)),
		Control:    cfg.Control,
		CallsFrom:  cfg.CallsFrom,
		AutoAccept: cfg.AutoAccept,
		Device:     cfg.Device,
	}
	frame, err := wire.Encode(req)
	if err != nil {
		return 0, err
	}
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	msg, err = readEvent(ctx, conn)
	if err != nil {
		return 0, err
	}
	switch m := msg.(type) {
	case *wire.OK:
		return maxBytes, nil
	case *wire.Error:
		return 0, &ProtocolError{Code: m.Code, Message: m.Message}
	}
	return 0, fmt.Errorf("%w: expected the login answer, got %T", ErrProtocol, msg)
}

func readEvent(ctx context.Context, conn *websocket.Conn) (wire.Message, error) {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	msg, err := wire.DecodeEvent(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return msg, nil
}

// websocketURL turns the forms ClientConfig.URL accepts into a ws:// or wss:// URL.
func websocketURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty directory URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("directory URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("directory URL %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("directory URL %q: missing host", raw)
	}
	if !strings.HasSuffix(u.Path, wire.Path) {
		u.Path = strings.TrimSuffix(u.Path, "/") + wire.Path
	}
	u.RawPath = ""
	return u.String(), nil
}

// User returns the username the client logged in as.
func (c *Client) User() string { return c.user }

// Lookup returns user's existence and status and makes the directory push
// that user's presence changes to PresenceUpdates.
func (c *Client) Lookup(ctx context.Context, user string) (Presence, error) {
	if !wire.ValidUsername(user) {
		return Presence{}, fmt.Errorf("look up %q: %w", user, ErrBadUsername)
	}
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.Lookup{Header: wire.Header{ID: id}, User: user})
	if err != nil {
		return Presence{}, fmt.Errorf("look up %s: %w", user, err)
	}
	result, ok := answer.(*wire.LookupResult)
	if !ok || result.User != user {
		return Presence{}, fmt.Errorf("look up %s: %w: unexpected answer %T", user, ErrProtocol, answer)
	}
	return Presence{User: result.User, Exists: result.Exists, Status: result.Status, Note: result.Note}, nil
}

// Contact carries out action on the user's contact with peer; message goes
// with ContactAdd only. Adding a name nobody registered fails with
// ErrNoSuchUser; accepting or declining without a request from peer with
// ErrProtocol.
func (c *Client) Contact(ctx context.Context, action ContactAction, peer, message string) error {
	if !wire.ValidUsername(peer) {
		return fmt.Errorf("%s contact %q: %w", action, peer, ErrBadUsername)
	}
	if !wire.ValidText(message) {
		return fmt.Errorf("%s contact %s: message must be at most %d characters, no control characters", action, peer, wire.MaxTextRunes)
	}
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.ContactRequest{Header: wire.Header{ID: id}, User: peer, Action: string(action), Message: message})
	if err != nil {
		return fmt.Errorf("%s contact %s: %w", action, peer, err)
	}
	if _, ok := answer.(*wire.OK); !ok {
		return fmt.Errorf("%s contact %s: %w: unexpected answer %T", action, peer, ErrProtocol, answer)
	}
	return nil
}

// Contacts returns the user's contact list: every contact and every
// pending request, incoming and outgoing, sorted by name; accepted
// contacts come with their presence.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.ContactsRequest{Header: wire.Header{ID: id}})
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	result, ok := answer.(*wire.ContactsResult)
	if !ok {
		return nil, fmt.Errorf("list contacts: %w: unexpected answer %T", ErrProtocol, answer)
	}
	list := make([]Contact, 0, len(result.Contacts))
	for _, e := range result.Contacts {
		ct := Contact{User: e.User, State: e.State, Message: e.Message, Status: e.Status, Note: e.Note}
		if e.LastSeen != "" {
			ct.LastSeen, _ = time.Parse(time.RFC3339, e.LastSeen) // a malformed time is only left out
		}
		list = append(list, ct)
	}
	return list, nil
}

// SetStatus sets the user's status (StatusOnline, StatusAway, StatusBusy or
// StatusInvisible) and note (up to 140 characters) for every session of the
// user; the directory keeps them for later logins.
func (c *Client) SetStatus(ctx context.Context, status, note string) error {
	if !wire.ValidSettableStatus(status) {
		return fmt.Errorf("set status %q: want online, away, busy or invisible", status)
	}
	if !wire.ValidText(note) {
		return fmt.Errorf("set status: note must be at most %d characters, no control characters", wire.MaxTextRunes)
	}
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.SetStatus{Header: wire.Header{ID: id}, Status: status, Note: note})
	if err != nil {
		return fmt.Errorf("set status %s: %w", status, err)
	}
	if _, ok := answer.(*wire.OK); !ok {
		return fmt.Errorf("set status %s: %w: unexpected answer %T", status, ErrProtocol, answer)
	}
	return nil
}

// Send relays s to s.To and waits for the directory's acknowledgement, which
// means the signal was queued for the recipient's live session, not that the
// recipient has read it. s.From is ignored: the directory sets it. Errors wrap
// ErrNoSuchUser, ErrOffline, ErrBadUsername or ErrTooLarge.
func (c *Client) Send(ctx context.Context, s Signal) error {
	if !wire.ValidUsername(s.To) {
		return fmt.Errorf("send %s signal to %q: %w", s.Kind, s.To, ErrBadUsername)
	}
	if !wire.ValidKind(string(s.Kind)) {
		return fmt.Errorf("send signal to %s: unknown kind %q", s.To, s.Kind)
	}
	if !wire.ValidCallID(s.CallID) {
		return fmt.Errorf("send %s signal to %s: call id %q is not 1-64 of A-Z a-z 0-9 . _ -", s.Kind, s.To, s.CallID)
	}
	if len(s.Payload) > 0 && !json.Valid(s.Payload) {
		return fmt.Errorf("send %s signal to %s: payload is not JSON", s.Kind, s.To)
	}
	id := c.newID()
	req := &wire.Signal{Header: wire.Header{ID: id}, To: s.To, CallID: s.CallID, Kind: string(s.Kind), Payload: s.Payload}
	answer, err := c.request(ctx, id, req)
	if err != nil {
		return fmt.Errorf("send %s signal to %s: %w", s.Kind, s.To, err)
	}
	if _, ok := answer.(*wire.OK); !ok {
		return fmt.Errorf("send %s signal to %s: %w: unexpected answer %T", s.Kind, s.To, ErrProtocol, answer)
	}
	return nil
}

// Signals returns incoming signalling. The channel is buffered (128); when it
// is full the client waits up to one second for room, then drops the signal
// and logs a warning, so that a stalled consumer cannot stall the connection
// (acks and pings). It is closed when the connection is gone (see Done).
func (c *Client) Signals() <-chan Signal { return c.signals }

// ContactUpdates returns changes to the user's contact list (a request
// arrived, was accepted, …), buffered (64); when it is full an update is
// dropped at once (Contacts has the whole list). It is closed when the
// connection is gone.
func (c *Client) ContactUpdates() <-chan Contact { return c.contacts }

// PresenceUpdates returns presence changes of accepted contacts, buffered (64);
// when it is full an update is dropped at once, so a client that never reads
// it loses nothing else. It is closed when the connection is gone.
func (c *Client) PresenceUpdates() <-chan Presence { return c.presence }

// Done is closed when the client is finished (with Reconnect: closed, or
// refused in a way reconnecting cannot cure); Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Reconnecting reports whether the connection is lost and the client is
// logging in again (ClientConfig.Reconnect); requests fail meanwhile.
func (c *Client) Reconnecting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur == nil && c.err == nil
}

// Err returns nil until Done is closed (also while reconnecting), then why
// the client ended: ErrClosed
// after Close, ErrReplaced when a newer login of the same user took over, or
// an error wrapping ErrConnectionLost.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection with a normal closure and waits for the client's
// goroutines.
func (c *Client) Close() error {
	var err error
	c.closed.Do(func() {
		c.setErr(ErrClosed)
		c.mu.Lock()
		l := c.cur
		c.mu.Unlock()
		c.cancel()
		if l != nil {
			err = l.conn.Close(websocket.StatusNormalClosure, "")
		}
		c.wg.Wait()
	})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close directory connection: %w", err)
	}
	return nil
}

// setErr records why the connection ended, unless a reason is known already.
func (c *Client) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *Client) newID() string { return strconv.FormatUint(c.nextID.Add(1), 10) }

// request sends m, whose id is id, and waits for the answer with that id.
func (c *Client) request(ctx context.Context, id string, m wire.Message) (wire.Message, error) {
	frame, err := wire.Encode(m)
	if err != nil {
		return nil, err
	}
	answer := make(chan wire.Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	l := c.cur
	if l == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: reconnecting", ErrConnectionLost)
	}
	if len(frame) > l.maxBytes {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(frame), l.maxBytes)
	}
	c.pending[id] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	// The write is bounded by the connection's life, not ctx: the library
	// closes the connection when a write's context ends mid-frame.
	wctx, cancel := context.WithTimeout(l.ctx, writeTimeout)
	err = l.conn.Write(wctx, websocket.MessageText, frame)
	cancel()
	if err != nil {
		if cerr := c.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}

	select {
	case msg := <-answer:
		if e, ok := msg.(*wire.Error); ok {
			return nil, &ProtocolError{Code: e.Code, Message: e.Message}
		}
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		if err := c.Err(); err != nil {
			return nil, err
		}
		return nil, l.Err()
	}
}

func (c *Client) readRunLoop(l *link) {
	for {
		_, data, err := l.conn.Read(context.Background())
		if err != nil {
			switch {
			case c.ctx.Err() != nil:
				l.setErr(ErrClosed)
			case websocket.CloseStatus(err) == statusReplaced:
				l.setErr(ErrReplaced)
			default:
				l.setErr(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			}
			return
		}
		msg, err := wire.DecodeEvent(data)
		if err != nil {
			c.log.Warn("directory: skipping a frame the client does not understand", "err", err)
			continue
		}
		c.dispatch(msg)
	}
}

func (c *Client) dispatch(msg wire.Message) {
	switch m := msg.(type) {
	case *wire.Signal:
		s := Signal{From: m.From, To: m.To, CallID: m.CallID, Kind: SignalKind(m.Kind), Payload: m.Payload}
		if !deliver(c.ctx, c.signals, s) {
			c.log.Warn("directory: signal dropped: Signals channel full", "from", s.From, "call", s.CallID, "kind", s.Kind)
		}
	case *wire.Presence:
		p := Presence{User: m.User, Exists: true, Status: m.Status, Note: m.Note}
		// Presence is state, and a newer update will follow: a client
		// that does not read it must not hold up its signalling.
		select {
		case c.presence <- p:
		default:
			c.log.Debug("directory: presence update dropped: channel full", "user", p.User, "status", p.Status)
		}
	case *wire.Contact:
		ct := Contact{User: m.User, State: m.State, Message: m.Message}
		select {
		case c.contacts <- ct:
		default:
			c.log.Debug("directory: contact update dropped: channel full", "user", ct.User, "state", ct.State)
		}
	case *wire.Chat:
		c.dispatchChat(m)
	case *wire.OK, *wire.LookupResult, *wire.ContactsResult, *wire.Pong, *wire.ICEResult, *wire.InboxResult:
		c.answer(wire.RequestID(m), m)
	case *wire.Error:
		if m.ID == "" {
			c.log.Warn("directory: error", "code", m.Code, "message", m.Message)
			return
		}
		c.answer(m.ID, m)
	default:
		c.log.Warn("directory: unexpected frame", "type", fmt.Sprintf("%T", m))
	}
}

// answer hands msg to the request waiting for id, if any still is.
func (c *Client) answer(id string, msg wire.Message) {
	c.mu.Lock()
	ch := c.pending[id]
	c.mu.Unlock()
	if ch == nil {
		c.log.Debug("directory: answer to no pending request", "id", id)
		return
	}
	select {
	case ch <- msg:
	default: // a duplicate answer; the first one counts
	}
}

// deliver sends v on ch, waiting at most deliveryWait for room, and reports
// whether it did.
func deliver[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	default:
	}
	timer := time.NewTimer(deliveryWait)
	defer timer.Stop()
	select {
	case ch <- v:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}

func (c *Client) keepAliveRunLoop(l *link) {
	ticker := time.NewTicker(c.pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(l.ctx, c.pingInterval)
			err := l.conn.Ping(ctx)
			cancel()
			if err != nil {
				// A closed connection is the read loop's to explain.
				if l.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					l.setErr(fmt.Errorf("%w: directory stopped answering pings: %w", ErrConnectionLost, err))
					_ = l.conn.CloseNow()
				}
				return
			}
		}
	}
}
