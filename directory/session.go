package directory

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// statusReplaced is the WebSocket close code of a session that a newer login
// of the same user took over (4000-4999 is for private use, RFC 6455 §7.4.2).
const statusReplaced websocket.StatusCode = 4001

const (
	// outboundQueue is how many frames may wait for a slow client before it
	// is dropped; a healthy client drains the queue as fast as TCP allows.
	outboundQueue = 256
	// writeTimeout bounds one frame write.
	writeTimeout = 10 * time.Second
	// relayRoom is how much of the outbound queue relayed signals may fill:
	// beyond it further signals are refused to their senders, so a flood
	// neither drops the recipient nor crowds out its own answers.
	relayRoom = outboundQueue * 3 / 4
	// drainAllowance is how far past the limit an oversized frame is read so
	// that its sender gets a too-large error; beyond it the WebSocket library
	// closes the connection itself (status 1009) without one.
	drainAllowance = 1 << 20
)

// session is one client connection. An idle session is one goroutine, the
// read loop, blocked on a small read buffer, and no queue: memory per
// connected client is what limits how many one directory serves. A writer
// goroutine runs only while frames wait, and timers (the login deadline,
// pings) run their work on goroutines of their own while it lasts; the read
// loop owns them all and waits for them.
type session struct {
	srv  *Server
	conn *websocket.Conn
	// netConn is conn's connection, on which writes set their deadline: a
	// context per write would cost a timer and its garbage per frame.
	netConn net.Conn
	log     *slog.Logger
	nonce   []byte

	// br is conn's buffered reader; raw, for a TCP connection, the socket
	// under it, which the read loop waits on while idle (see awaitInput).
	br  *bufio.Reader
	raw syscall.RawConn
	// rmu keeps the read loop from looking into br while the writer's
	// close handshake reads from it.
	rmu sync.Mutex
	// lastHeard is when the client last sent a frame or a ping (Unix ns).
	lastHeard atomic.Int64

	// qmu guards the following fields.
	qmu     sync.Mutex
	queue   [][]byte // encoded frames for the writer, at most outboundQueue
	writing bool     // a writer is draining queue
	done    bool     // the connection is closed (or failed): frames go nowhere

	// helpers counts the writer and running timer callbacks, which start
	// only while timersStopped is false or the connection is not done.
	helpers sync.WaitGroup
	// timerMu guards the following fields.
	timerMu       sync.Mutex
	timersStopped bool
	loginTimer    *time.Timer
	pingTimer     *time.Timer

	loggedIn chan struct{} // closed by the read loop at login
	closing  chan struct{} // closed by close
	once     sync.Once
	// closeCode and closeReason are written once, before closing is closed.
	closeCode   websocket.StatusCode
	closeReason string

	// user is written under srv.mu at login; the read loop, which writes it,
	// reads it without the lock, other goroutines through userName.
	user string
	// watching (guarded by srv.mu) holds the users whose presence this session follows.
	watching map[string]struct{}
	// sub and deviceSub (guarded by srv.mu) are the subscriptions to the
	// user's and the device's subjects, set at login.
	sub, deviceSub *nats.Subscription
	// replaced (guarded by srv.mu) reports whether a newer login took over.
	replaced bool

	// Set at login, before the session is registered; read-only after.
	control         bool   // a control session (wire.Login.Control)
	device          string // the device's name (wire.Login.Device)
	callsFromAnyone bool
	autoAccept      bool

	// srv.mu guards the following fields.
	contacts map[string]string // peer → the state of the user's record of peer
	status   string            // the user's chosen status (online, away, busy, invisible)
	note     string
	// repliesFrom holds, until when, the peers this session signalled, so
	// that a callee who is not a contact can answer the call.
	repliesFrom map[string]time.Time

	// Rate limits, used only by the read loop: signals per session; lookups
	// and contact requests per user, shared by the user's sessions on this
	// directory (set at login); bad requests per session.
	signalLimit *rate.Limiter
	userLimit   *userLimits
	badLimit    *rate.Limiter
}

// Per-session rate limits: sustained rate per second and burst. A call's
// set-up is a handful of signals plus trickled candidates; the burst covers
// several calls at once.
const (
	signalRate, signalBurst = 50, 200
	lookupRate, lookupBurst = 20, 100
	// contactRate covers contact actions, contact lists and status changes,
	// which write to storage and reach other users.
	contactRate, contactBurst = 5, 20
	// badRate bounds malformed and unauthenticated requests and failed
	// logins: a client past it is disconnected (1008). Requests refused by a
	// rate limit do not count: they cost little, and a burst is no attack.
	badRate, badBurst = 5, 50
)

// userLimits are the rate limits one user's sessions on a directory share,
// so that opening more connections does not buy more requests.
type userLimits struct {
	lookup, contact *rate.Limiter
	refs            int // sessions using them; guarded by Server.mu
}

// Limits on what one session makes the server remember.
const (
	// replyWindow is how long a peer this session signalled may signal
	// back without being a contact; every signal renews it.
	replyWindow = 2 * time.Hour
	// maxRepliesFrom bounds repliesFrom.
	maxRepliesFrom = 1000
)

func newSession(srv *Server, conn *websocket.Conn, hijacked *smallBuffers, remote string) *session {
	nonce := make([]byte, wire.NonceSize)
	_, _ = rand.Read(nonce) // never fails (crypto/rand, Go 1.24+)
	conn.SetReadLimit(int64(srv.maxMessageBytes) + drainAllowance)
	return &session{
		srv:      srv,
		conn:     conn,
		netConn:  hijacked.conn,
		br:       hijacked.br,
		raw:      rawConn(hijacked),
		log:      srv.log.With("remote", remote),
		nonce:    nonce,
		loggedIn: make(chan struct{}),
		closing:  make(chan struct{}),
		watching: make(map[string]struct{}),

		contacts:    make(map[string]string),
		repliesFrom: make(map[string]time.Time),

		signalLimit: rate.NewLimiter(signalRate, signalBurst),
		badLimit:    rate.NewLimiter(badRate, badBurst),
	}
}

// run serves the session and calls done when it is over. Logging in grows
// the goroutine's stack to 8 KiB (a signature check, storage), which it
// would keep while the client idles, so the read loop goes on after the
// login on a fresh goroutine, which starts small.
func (ss *session) run(done func()) {
	ss.timerMu.Lock()
	ss.loginTimer = ss.afterFunc(ss.srv.loginTimeout, ss.loginDeadline)
	ss.pingTimer = ss.afterFunc(ss.srv.pingInterval, ss.ping)
	ss.timerMu.Unlock()

	ss.send(&wire.Hello{Nonce: ss.nonce, MaxBytes: ss.srv.maxMessageBytes})
	if ss.readRunLoop(true) {
		go func() {
			ss.readRunLoop(false)
			ss.end(done)
		}()
		return
	}
	ss.end(done)
}

// end ends the session once its read loop is over, then calls done.
func (ss *session) end(done func()) {
	defer done()
	ss.srv.unregister(ss)
	ss.close(websocket.StatusNormalClosure, "")
	ss.timerMu.Lock()
	ss.timersStopped = true
	ss.loginTimer.Stop()
	ss.pingTimer.Stop()
	ss.timerMu.Unlock()
	ss.helpers.Wait()
}

// afterFunc runs f on a goroutine of its own after d, unless the session
// stopped its timers by then. The caller holds timerMu.
func (ss *session) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		ss.timerMu.Lock()
		if ss.timersStopped {
			ss.timerMu.Unlock()
			return
		}
		ss.helpers.Add(1)
		ss.timerMu.Unlock()
		defer ss.helpers.Done()
		f()
	})
}

// loginDeadline closes the connection of a client that has not logged in.
func (ss *session) loginDeadline() {
	select {
	case <-ss.loggedIn:
		return
	default:
	}
	ss.fail("", wire.CodeUnauthenticated, "no login within %v", ss.srv.loginTimeout)
	ss.close(websocket.StatusPolicyViolation, "login timeout")
}

// ping pings the client, and again one interval after each pong. A ping not
// answered within one interval means the peer is gone: the connection is
// dropped without a close handshake, which would only wait on it longer.
//
// A client heard from within the interval, its own pings included, is
// there: it is pinged only once it has been quiet for an interval, which
// halves the pings of clients that keep the connection alive themselves.
func (ss *session) ping() {
	if quiet := time.Since(time.Unix(0, ss.lastHeard.Load())); quiet < ss.srv.pingInterval {
		ss.schedulePing(ss.srv.pingInterval - quiet)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ss.srv.pingInterval)
	defer cancel()
	if err := ss.conn.Ping(ctx); err != nil {
		select {
		case <-ss.closing:
		default:
			ss.log.Info("directory: peer stopped answering pings", "user", ss.userName(), "err", err)
		}
		_ = ss.conn.CloseNow()
		return
	}
	ss.schedulePing(ss.srv.pingInterval)
}

func (ss *session) schedulePing(after time.Duration) {
	ss.timerMu.Lock()
	if !ss.timersStopped {
		ss.pingTimer.Reset(after)
	}
	ss.timerMu.Unlock()
}

// heard records that the client sent something just now.
func (ss *session) heard() { ss.lastHeard.Store(time.Now().UnixNano()) }

// close asks the writer to flush queued frames and close the connection with
// code and reason. It never blocks; only the first call counts.
func (ss *session) close(code websocket.StatusCode, reason string) {
	ss.once.Do(func() {
		ss.closeCode, ss.closeReason = code, reason
		close(ss.closing)
		ss.qmu.Lock()
		ss.startWriterLocked()
		ss.qmu.Unlock()
	})
}

// userName returns the session's user, "" before login; for goroutines other
// than the read loop.
func (ss *session) userName() string {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	return ss.user
}

// send queues m for the client.
func (ss *session) send(m wire.Message) {
	frame, err := wire.Encode(m)
	if err != nil {
		ss.log.Error("directory: encode frame", "err", err)
		return
	}
	ss.enqueue(frame)
}

// enqueue queues a frame without blocking, so that no session ever waits on
// another's client, and reports whether it did; a client too slow to keep up
// is dropped.
func (ss *session) enqueue(frame []byte) bool {
	if !ss.push(frame, outboundQueue) {
		ss.log.Warn("directory: dropping client that does not keep up", "queued", outboundQueue)
		ss.close(websocket.StatusPolicyViolation, "too slow: outbound queue full")
		return false
	}
	return true
}

// push queues frame if fewer than limit frames wait, and reports whether
// it did; frames for a closed connection are dropped.
func (ss *session) push(frame []byte, limit int) bool {
	ss.qmu.Lock()
	defer ss.qmu.Unlock()
	if ss.done {
		return true
	}
	if len(ss.queue) >= limit {
		return false
	}
	ss.queue = append(ss.queue, frame)
	ss.startWriterLocked()
	return true
}

// startWriterLocked starts a writer unless one runs or the connection is
// done. The caller holds qmu.
func (ss *session) startWriterLocked() {
	if ss.writing || ss.done {
		return
	}
	ss.writing = true
	ss.helpers.Add(1)
	go func() {
		defer ss.helpers.Done()
		ss.writeQueued()
	}()
}

// takesCallsFromLocked reports whether peer may signal this session: an
// accepted contact, anyone the session signalled lately, or anyone at all
// with calls_from "anyone" unless blocked.
func (ss *session) takesCallsFromLocked(peer string) bool {
	switch ss.contacts[peer] {
	case ContactAccepted:
		return true
	case ContactBlocked:
		return false
	}
	if until, ok := ss.repliesFrom[peer]; ok && time.Now().Before(until) {
		return true
	}
	return ss.callsFromAnyone
}

// showsPresenceToLocked reports whether peer may see this session's presence.
func (ss *session) showsPresenceToLocked(peer string) bool {
	if peer == ss.user {
		return true
	}
	switch ss.contacts[peer] {
	case ContactAccepted:
		return true
	case ContactBlocked:
		return false
	}
	return ss.callsFromAnyone
}

// visible returns the presence others may see: invisible shows as offline.
// The caller holds srv.mu or is the only one touching ss.
func (ss *session) visible() presenceInfo {
	if ss.status == wire.StatusInvisible {
		return presenceInfo{Status: wire.StatusOffline}
	}
	return presenceInfo{Status: ss.status, Note: ss.note}
}

// offer queues a relayed frame unless the queue is past relayRoom, and
// reports whether it did; it never drops the session.
func (ss *session) offer(frame []byte) bool { return ss.push(frame, relayRoom) }

func (ss *session) fail(id, code, format string, args ...any) {
	ss.send(&wire.Error{Header: wire.Header{ID: id}, Code: code, Message: fmt.Sprintf(format, args...)})
}

// writeQueued is the writer: it writes queued frames until none is left,
// then ends; once the session is closing it flushes the queue (a
// too-large error must precede the close) and closes the connection.
func (ss *session) writeQueued() {
	for {
		ss.qmu.Lock()
		frames := ss.queue
		ss.queue = nil // an idle session keeps no buffer
		closing := false
		if len(frames) == 0 {
			select {
			case <-ss.closing:
				closing, ss.done = true, true
			default:
				ss.writing = false
				ss.qmu.Unlock()
				return
			}
		}
		ss.qmu.Unlock()
		if closing {
			ss.rmu.Lock()
			_ = ss.conn.Close(ss.closeCode, ss.closeReason)
			ss.rmu.Unlock()
			return
		}
		for _, frame := range frames {
			if err := ss.write(frame); err != nil {
				ss.log.Debug("directory: write failed", "err", err)
				ss.qmu.Lock()
				ss.done, ss.queue = true, nil
				ss.qmu.Unlock()
				_ = ss.conn.CloseNow()
				return
			}
		}
	}
}

func (ss *session) write(frame []byte) error {
	if err := ss.netConn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	err := ss.conn.Write(context.Background(), websocket.MessageText, frame)
	// Pings and the close handshake bound their writes themselves.
	_ = ss.netConn.SetWriteDeadline(time.Time{})
	return err
}

// readRunLoop reads and handles the client's frames until the connection
// ends, or with untilLogin until the client has logged in, when it reports
// true.
func (ss *session) readRunLoop(untilLogin bool) (loggedIn bool) {
	limit := ss.srv.maxMessageBytes
	for {
		ss.awaitInput()
		typ, r, err := ss.conn.Reader(context.Background())
		if err != nil {
			ss.log.Debug("directory: connection ended", "user", ss.user, "err", err)
			return false
		}
		ss.heard()
		data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err != nil {
			return false
		}
		if len(data) > limit {
			_, _ = io.Copy(io.Discard, r)
			ss.fail("", wire.CodeTooLarge, "frame exceeds %d bytes", limit)
			ss.close(websocket.StatusMessageTooBig, "frame too large")
			return false
		}
		if typ != websocket.MessageText {
			ss.fail("", wire.CodeBadRequest, "binary frames are not accepted; send JSON text")
			ss.strike()
			continue
		}
		ss.handle(data)
		if untilLogin && ss.user != "" {
			return true
		}
	}
}

// awaitInput returns once the client has sent something, or the
// connection failed. Waiting here rather than in the WebSocket library's
// reader parks an idle session on a shallow stack, which the garbage
// collector shrinks to 4 KiB; blocked a dozen calls deeper, it keeps
// 8 KiB. (A pong wakes the reader, which then waits for the next message
// inside the library: 4 KiB holds that wait, so a stack shrunk before the
// first ping stays small.) Data already in br is input: the socket is
// asked only when br is empty, without consuming anything (MSG_PEEK). A
// TLS connection keeps decrypted data of its own, so its sessions wait in
// the library.
func (ss *session) awaitInput() {
	if ss.raw == nil {
		return
	}
	ss.rmu.Lock()
	buffered := ss.br.Buffered()
	ss.rmu.Unlock()
	if buffered > 0 {
		return
	}
	var b [1]byte
	// An error (a closed connection) is for the reader to report.
	_ = ss.raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN // done, unless nothing has come yet
	})
}

// rawConn returns the socket of a TCP connection, nil for another or for
// one with bytes waiting ahead of br, which neither br nor the socket shows.
func rawConn(h *smallBuffers) syscall.RawConn {
	tcp, ok := h.conn.(*net.TCPConn)
	if !ok || h.early {
		return nil
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

func (ss *session) handle(data []byte) {
	msg, err := wire.DecodeRequest(data)
	if err != nil {
		var e *wire.Error
		if errors.As(err, &e) {
			ss.send(e)
		}
		ss.strike()
		return
	}
	ss.srv.metrics.countMessage(wire.FrameType(msg))
	if ss.user == "" {
		if m, ok := msg.(*wire.Login); ok {
			ss.login(m)
			return
		}
		ss.fail(wire.RequestID(msg), wire.CodeUnauthenticated, "log in first")
		ss.strike()
		return
	}
	switch m := msg.(type) {
	case *wire.Login:
		ss.fail(m.ID, wire.CodeBadRequest, "already logged in as %s", ss.user)
	case *wire.Lookup:
		if ss.limited(m.ID, ss.userLimit.lookup) {
			return
		}
		ss.lookup(m)
	case *wire.Signal:
		if ss.limited(m.ID, ss.signalLimit) {
			return
		}
		ss.relay(m)
	case *wire.ContactRequest:
		if ss.limited(m.ID, ss.userLimit.contact) {
			return
		}
		ss.contact(m)
	case *wire.ContactsRequest:
		if ss.limited(m.ID, ss.userLimit.contact) {
			return
		}
		ss.contactList(m)
	case *wire.SetStatus:
		if ss.limited(m.ID, ss.userLimit.contact) {
			return
		}
		ss.setStatus(m)
	case *wire.Ping:
		ss.send(&wire.Pong{Header: wire.Header{ID: m.ID}})
	case *wire.ICERequest:
		if ss.limited(m.ID, ss.userLimit.lookup) {
			return
		}
		ss.iceServers(m)
	case *wire.Relay:
		if ss.limited(m.ID, ss.userLimit.contact) {
			return
		}
		ss.registerRelay(m)
	case *wire.Chat, *wire.InboxRequest, *wire.InboxAck:
		ss.handleInbox(m)
	}
}

// limited reports whether l refuses a request now, and if so answers it
// with rate-limited.
func (ss *session) limited(id string, l *rate.Limiter) bool {
	if l.Allow() {
		return false
	}
	ss.srv.metrics.rateLimited.Add(1)
	ss.fail(id, wire.CodeRateLimited, "too many requests; slow down")
	return true
}

// strike counts a bad request against the session and disconnects a
// client that keeps sending them: a hostile or broken client must not keep
// the directory busy answering it.
func (ss *session) strike() {
	if ss.badLimit.Allow() {
		return
	}
	select {
	case <-ss.closing:
		return // counted and closing already
	default:
	}
	ss.srv.metrics.disconnected.Add(1)
	ss.log.Info("directory: disconnecting a client sending too many bad requests", "user", ss.user)
	ss.close(websocket.StatusPolicyViolation, "too many bad requests")
}

func (ss *session) login(m *wire.Login) {
	if !ed25519.Verify(m.Key, wire.LoginMessage(ss.nonce, m.User), m.Sig) {
		ss.fail(m.ID, wire.CodeBadSignature, "signature does not verify for this key, nonce and user")
		ss.strike()
		return
	}
	if err := ss.srv.claim(m.User, m.Key); err != nil {
		if errors.Is(err, ErrNameTaken) {
			ss.fail(m.ID, wire.CodeNameTaken, "%s belongs to another key", m.User)
			return
		}
		ss.log.Error("directory: claim account", "user", m.User, "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot store the account; try again")
		return
	}
	ack, err := wire.Encode(&wire.OK{Header: wire.Header{ID: m.ID}})
	if err != nil {
		ss.log.Error("directory: encode login ack", "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot log in")
		return
	}
	ss.control, ss.callsFromAnyone, ss.autoAccept = m.Control, m.CallsFrom == wire.CallsFromAnyone, m.AutoAccept
	ss.device = m.Device
	if err := ss.srv.register(ss, m.User, ack); err != nil {
		ss.log.Error("directory: register session", "user", m.User, "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot log in; try again")
		return
	}
	close(ss.loggedIn)
	ss.timerMu.Lock()
	ss.loginTimer.Stop()
	ss.timerMu.Unlock()
	ss.log.Debug("directory: logged in", "user", m.User)
}

func (ss *session) lookup(m *wire.Lookup) {
	p, err := ss.srv.presenceOf(m.User, ss.user)
	if err != nil {
		ss.log.Error("directory: look up presence", "lookup", m.User, "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot read presence; try again")
		return
	}
	result := &wire.LookupResult{Header: wire.Header{ID: m.ID}, User: m.User, Status: p.Status, Note: p.Note}
	if p.Status != wire.StatusOffline {
		result.Exists = true
	} else {
		exists, err := ss.srv.accountExists(m.User)
		if err != nil {
			ss.log.Error("directory: look up account", "lookup", m.User, "err", err)
			ss.fail(m.ID, wire.CodeInternal, "cannot read accounts; try again")
			return
		}
		result.Exists = exists
	}
	ss.send(result)
}

func (ss *session) relay(m *wire.Signal) {
	if m.To == ss.user {
		ss.fail(m.ID, wire.CodeBadRequest, "cannot signal yourself")
		return
	}
	if ss.control {
		ss.fail(m.ID, wire.CodeBadRequest, "a control session cannot signal")
		return
	}
	ss.srv.mu.Lock()
	if _, ok := ss.repliesFrom[m.To]; ok || len(ss.repliesFrom) < maxRepliesFrom {
		ss.repliesFrom[m.To] = time.Now().Add(replyWindow)
	}
	ss.srv.mu.Unlock()
	relayed := &wire.Signal{From: ss.user, To: m.To, CallID: m.CallID, Kind: m.Kind, Payload: m.Payload}
	frame, err := wire.Encode(relayed)
	if err != nil {
		ss.log.Error("directory: encode signal", "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot relay")
		return
	}
	err = ss.srv.deliver(ss.user, m.To, frame)
	switch {
	case err == nil:
		ss.send(&wire.OK{Header: wire.Header{ID: m.ID}})
	case errors.Is(err, errRecipientFull):
		ss.srv.metrics.rateLimited.Add(1)
		ss.fail(m.ID, wire.CodeRateLimited, "%s is not keeping up; slow down", m.To)
	case errors.Is(err, ErrOffline):
		exists, err := ss.srv.accountExists(m.To)
		switch {
		case err != nil:
			ss.log.Error("directory: look up account", "to", m.To, "err", err)
			ss.fail(m.ID, wire.CodeInternal, "cannot read accounts; try again")
		case exists:
			ss.fail(m.ID, wire.CodeOffline, "%s is offline", m.To)
		default:
			ss.fail(m.ID, wire.CodeNoSuchUser, "no such user %s", m.To)
		}
	default:
		ss.log.Error("directory: relay", "to", m.To, "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot relay; try again")
	}
}

func (ss *session) contact(m *wire.ContactRequest) {
	if m.User == ss.user {
		ss.fail(m.ID, wire.CodeBadRequest, "you cannot be your own contact")
		return
	}
	err := ss.srv.contactAction(ss.user, m.User, m.Action, m.Message)
	switch {
	case err == nil:
		ss.send(&wire.OK{Header: wire.Header{ID: m.ID}})
	case errors.Is(err, ErrNoSuchUser):
		ss.fail(m.ID, wire.CodeNoSuchUser, "no such user %s", m.User)
	case errors.Is(err, errNoRequest):
		ss.fail(m.ID, wire.CodeBadRequest, "no contact request from %s to %s", m.User, m.Action)
	default:
		ss.log.Error("directory: contact", "peer", m.User, "action", m.Action, "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot update contacts; try again")
	}
}

func (ss *session) contactList(m *wire.ContactsRequest) {
	entries, err := ss.srv.contactList(ss.user)
	if err != nil {
		ss.log.Error("directory: contact list", "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot read contacts; try again")
		return
	}
	ss.send(&wire.ContactsResult{Header: wire.Header{ID: m.ID}, Contacts: entries})
}

func (ss *session) setStatus(m *wire.SetStatus) {
	if err := ss.srv.setStatus(ss.user, m.Status, m.Note); err != nil {
		ss.log.Error("directory: set status", "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot set status; try again")
		return
	}
	ss.send(&wire.OK{Header: wire.Header{ID: m.ID}})
}
