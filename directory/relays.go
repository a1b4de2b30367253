package directory

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pion/ice/v4"

	"github.com/parley-voip/parley/directory/internal/wire"
	"github.com/parley-voip/parley/nat"
)

// RelayConfig configures the directory's registry of relays
// (ServerConfig.Relays): operator supernodes, which register over HTTP
// with a token, and users' volunteer relays, which register through their
// session. The zero value takes volunteers only.
type RelayConfig struct {
	// SupernodeToken is what operator supernodes must present to register
	// (POST /v1/supernodes, "Authorization: Bearer TOKEN"). Empty lets any
	// supernode register, as DESIGN §4's bare "parley supernode --directory
	// URL" needs: fine on a LAN or for a trial, not on the Internet.
	SupernodeToken string
	// AuthSecret is the TURN REST secret of supernodes that register
	// without one of their own (--auth-secret on both sides).
	AuthSecret string
	// CredentialTTL is how long the TURN credentials handed to clients
	// last; 0 → 12 h. pion and coturn check them again at every allocation
	// refresh, so a relayed call cannot outlive them.
	CredentialTTL time.Duration
	// Expiry is how long a relay stays registered after its last
	// heartbeat; 0 → 30 s (relays beat every third of it).
	Expiry time.Duration
	// ReachTimeout bounds the directory's STUN check of a new volunteer
	// relay; 0 → 1 s.
	ReachTimeout time.Duration
}

// Validate says what is wrong with c, if anything.
func (c RelayConfig) Validate() error {
	if c.CredentialTTL < 0 || c.Expiry < 0 || c.ReachTimeout < 0 {
		return errors.New("relay durations must be 0 or more")
	}
	if c.AuthSecret != "" && !wire.ValidSecret(c.AuthSecret) {
		return fmt.Errorf("relay auth secret: want %d-%d printable ASCII characters", wire.MinSecretLength, wire.MaxSecretLength)
	}
	return nil
}

// relaysBucket is the JetStream key-value bucket of registered relays:
// key "op.<id>" for an operator supernode, "vol.<user>.<device>" for a
// volunteer (natsToken'd), value a relayRecord. Its entries age out
// (the bucket's TTL) when heartbeats stop; every directory watches it.
const relaysBucket = "parley_relays"

// Relay registry defaults and limits.
const (
	defaultCredentialTTL = 12 * time.Hour
	defaultRelayExpiry   = 30 * time.Second
	defaultReachTimeout  = time.Second
	// relaysPerClient is how many relays a client is given (DESIGN §4).
	relaysPerClient = 3
	// unlimitedCapacity is the capacity a relay without one is ranked as.
	unlimitedCapacity = 1000
	// maxRegistrationBytes bounds an operator's registration request.
	maxRegistrationBytes = 8 << 10
)

// relayRecord is one relay's registration, as kept in the bucket.
type relayRecord struct {
	URLs     []string  `json:"urls"`
	Secret   string    `json:"secret,omitempty"` // "" → RelayConfig.AuthSecret
	Capacity int       `json:"capacity"`         // allocations; 0: unlimited
	Load     int       `json:"load"`             // allocations held at the last heartbeat
	Owner    string    `json:"owner,omitempty"`  // a volunteer's user; "" for an operator supernode
	RelayFor string    `json:"relay_for,omitempty"`
	Updated  time.Time `json:"updated"`
}

// share is the fraction of its capacity a relay has in use, for ranking.
func (r relayRecord) share() float64 {
	return float64(r.Load) / float64(cmp.Or(r.Capacity, unlimitedCapacity))
}

// relayRegistry is a directory's view of the relays bucket, kept current
// by a watch so that a client's ICE request costs no NATS round trip.
type relayRegistry struct {
	cfg     RelayConfig
	kv      jetstream.KeyValue
	watcher jetstream.KeyWatcher
	log     *slog.Logger
	done    chan struct{} // closed when watchRunLoop ends

	iceRequests  atomic.Uint64 // ICE requests answered
	unreachables atomic.Uint64 // volunteers refused as unreachable

	// mu guards relays.
	mu     sync.Mutex
	relays map[string]relayRecord // by key
}

// writeMetrics writes the registry's metrics in the Prometheus text format.
func (r *relayRegistry) writeMetrics(w io.Writer) {
	now := time.Now()
	var supernodes, volunteers int
	r.mu.Lock()
	for _, rec := range r.relays {
		switch {
		case now.Sub(rec.Updated) >= r.cfg.Expiry:
		case rec.Owner == "":
			supernodes++
		default:
			volunteers++
		}
	}
	r.mu.Unlock()
	fmt.Fprintf(w, "# HELP parley_directory_relays Registered relays, by kind.\n# TYPE parley_directory_relays gauge\n")
	fmt.Fprintf(w, "parley_directory_relays{kind=\"supernode\"} %d\nparley_directory_relays{kind=\"volunteer\"} %d\n", supernodes, volunteers)
	fmt.Fprintf(w, "# HELP parley_directory_ice_requests_total ICE server requests answered.\n# TYPE parley_directory_ice_requests_total counter\n")
	fmt.Fprintf(w, "parley_directory_ice_requests_total %d\n", r.iceRequests.Load())
	fmt.Fprintf(w, "# HELP parley_directory_unreachable_relays_total Volunteer relays refused: the directory could not reach them.\n# TYPE parley_directory_unreachable_relays_total counter\n")
	fmt.Fprintf(w, "parley_directory_unreachable_relays_total %d\n", r.unreachables.Load())
}

// startRelays opens the relays bucket, starts watching it and serves the
// operators' registration endpoint.
func (s *Server) startRelays(ctx context.Context, cfg RelayConfig) error {
	cfg.CredentialTTL = cmp.Or(cfg.CredentialTTL, defaultCredentialTTL)
	cfg.Expiry = cmp.Or(cfg.Expiry, defaultRelayExpiry)
	cfg.ReachTimeout = cmp.Or(cfg.ReachTimeout, defaultReachTimeout)
	kv, err := s.nats.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      relaysBucket,
		Description: "Parley relays: supernodes and volunteer relays, while they heartbeat",
		History:     1,
		TTL:         cfg.Expiry,
		Storage:     jetstream.MemoryStorage, // registrations are renewed every few seconds
		Replicas:    s.nats.replicas,
	})
	if err != nil {
		return fmt.Errorf("directory: relays bucket: %w", err)
	}
	// Not ctx: it ends with NewServer, and the watch with it. close stops it.
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return fmt.Errorf("directory: watch relays: %w", err)
	}
	r := &relayRegistry{cfg: cfg, kv: kv, watcher: w, log: s.log, done: make(chan struct{}), relays: make(map[string]relayRecord)}
	go func() {
		defer close(r.done)
		r.watchRunLoop()
	}()
	s.relays = r
	s.mux.HandleFunc("POST /v1/supernodes", s.serveSupernodeRegistration)
	s.mux.HandleFunc("DELETE /v1/supernodes/{id}", s.serveSupernodeRemoval)
	return nil
}

// close stops the watch and waits for it.
func (r *relayRegistry) close() {
	if err := r.watcher.Stop(); err != nil {
		r.log.Debug("directory: stop watching relays", "err", err)
	}
	<-r.done
}

// watchRunLoop applies the bucket's changes to the local view until the
// watcher stops. Entries that age out make no change to watch; pick skips
// them by their heartbeat time.
func (r *relayRegistry) watchRunLoop() {
	for e := range r.watcher.Updates() {
		if e == nil {
			continue // the initial values are all in
		}
		r.mu.Lock()
		switch e.Operation() {
		case jetstream.KeyValuePut:
			var rec relayRecord
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				r.log.Warn("directory: malformed relay record", "key", e.Key(), "err", err)
			} else {
				r.relays[e.Key()] = rec
			}
		default:
			delete(r.relays, e.Key())
		}
		r.mu.Unlock()
	}
}

// put registers or renews a relay, in the bucket and at once in the local
// view (the watch brings the same shortly).
func (r *relayRegistry) put(ctx context.Context, key string, rec relayRecord) error {
	rec.Updated = time.Now().UTC()
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, key, body); err != nil {
		return fmt.Errorf("register relay %s: %w", key, err)
	}
	r.mu.Lock()
	r.relays[key] = rec
	r.mu.Unlock()
	return nil
}

func (r *relayRegistry) remove(ctx context.Context, key string) error {
	r.mu.Lock()
	delete(r.relays, key)
	r.mu.Unlock()
	if err := r.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove relay %s: %w", key, err)
	}
	return nil
}

// volunteerKey is the registry key of user's relay on device.
func volunteerKey(user, device string) string {
	return "vol." + natsToken(user) + "." + natsToken(cmp.Or(device, "_"))
}

// sessionEnded withdraws the volunteer relay of a session that ended (not
// one a newer login of its device took over, which relays on), so that
// clients are not sent to a relay whose user quit.
func (r *relayRegistry) sessionEnded(user, device string) {
	key := volunteerKey(user, device)
	r.mu.Lock()
	_, ok := r.relays[key]
	r.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := r.remove(ctx, key); err != nil {
		r.log.Warn("directory: withdraw volunteer relay", "user", user, "err", err)
	}
}

// known returns the live record of key, if any.
func (r *relayRegistry) known(key string, now time.Time) (relayRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.relays[key]
	return rec, ok && now.Sub(rec.Updated) < r.cfg.Expiry
}

// pick returns the relays user may use (as mayUse says), least loaded
// first, at most relaysPerClient. Full relays, relays past their expiry
// and the user's own are left out.
func (r *relayRegistry) pick(user string, mayUse func(relayRecord) bool, now time.Time) []relayRecord {
	r.mu.Lock()
	var out []relayRecord
	keys := make([]string, 0, len(r.relays))
	for key, rec := range r.relays {
		switch {
		case now.Sub(rec.Updated) >= r.cfg.Expiry:
			delete(r.relays, key)
			continue
		case rec.Capacity > 0 && rec.Load >= rec.Capacity:
			continue
		case rec.Owner == user:
			continue // one's own relay adds nothing to one's calls
		}
		keys = append(keys, key)
	}
	slices.Sort(keys) // ties rank in a stable order
	for _, key := range keys {
		out = append(out, r.relays[key])
	}
	r.mu.Unlock()
	// mayUse may read storage: call it without the registry's lock.
	out = slices.DeleteFunc(out, func(rec relayRecord) bool { return !mayUse(rec) })
	slices.SortStableFunc(out, func(a, b relayRecord) int { return cmp.Compare(a.share(), b.share()) })
	return out[:min(len(out), relaysPerClient)]
}

// iceServers returns user's ICE servers: each picked relay's URLs with
// TURN REST credentials made with its secret.
func (r *relayRegistry) iceServers(user string, mayUse func(relayRecord) bool, now time.Time) []wire.ICEServer {
	var out []wire.ICEServer
	for _, rec := range r.pick(user, mayUse, now) {
		username, password := nat.TURNCredentials(cmp.Or(rec.Secret, r.cfg.AuthSecret), user, now, r.cfg.CredentialTTL)
		out = append(out, wire.ICEServer{URLs: rec.URLs, Username: username, Credential: password})
	}
	return out
}

// checkRelayURLs checks that urls parse as ICE server URLs.
func checkRelayURLs(urls []string) error {
	for _, u := range urls {
		if _, err := ice.ParseURL(u); err != nil {
			return fmt.Errorf("%q: %w", u, err)
		}
	}
	return nil
}

// iceServers answers a client's ICE request.
func (ss *session) iceServers(m *wire.ICERequest) {
	r := ss.srv.relays
	r.iceRequests.Add(1)
	ss.send(&wire.ICEResult{
		Header:     wire.Header{ID: m.ID},
		Servers:    r.iceServers(ss.user, ss.mayUseRelay(), time.Now()),
		TTLSeconds: int(r.cfg.CredentialTTL / time.Second),
	})
}

// mayUseRelay returns whether the session's user may use a relay: any
// operator supernode; a volunteer's relay if its owner relays for anyone
// or the two are contacts, and never if the owner blocked the user. The
// user's contact records say all that (ContactRecord.BlockedByPeer); they
// are read once, and only when a volunteer's relay is at stake. If they
// cannot be read, no volunteer's relay is offered.
func (ss *session) mayUseRelay() func(relayRecord) bool {
	var (
		records map[string]ContactRecord
		err     error
		loaded  bool
	)
	return func(rec relayRecord) bool {
		if rec.Owner == "" {
			return true
		}
		if !loaded {
			ctx, cancel := context.WithTimeout(ss.srv.ctx, storeTimeout)
			records, err = ss.srv.store.Contacts(ctx, ss.user)
			cancel()
			loaded = true
			if err != nil {
				ss.log.Warn("directory: read contacts for relays", "err", err)
			}
		}
		c, known := records[rec.Owner]
		switch {
		case err != nil, known && c.BlockedByPeer:
			return false
		case rec.RelayFor == wire.RelayForAnyone:
			return true
		}
		return c.mutual()
	}
}

// registerRelay registers or renews the session's volunteer relay. A new
// one (or one that moved) must answer the directory's STUN request first:
// a relay behind a NAT would only waste its users' calls.
func (ss *session) registerRelay(m *wire.Relay) {
	if ss.control {
		ss.fail(m.ID, wire.CodeBadRequest, "a control session cannot relay")
		return
	}
	if err := checkRelayURLs(m.URLs); err != nil {
		ss.fail(m.ID, wire.CodeBadRequest, "relay: %v", err)
		return
	}
	r := ss.srv.relays
	key := volunteerKey(ss.user, ss.device)
	if old, ok := r.known(key, time.Now()); !ok || !slices.Equal(old.URLs, m.URLs) || old.Secret != m.Secret {
		var target string
		for _, u := range m.URLs {
			if hp, ok := nat.UDPTarget(u); ok {
				target = hp
				break
			}
		}
		if target == "" {
			ss.fail(m.ID, wire.CodeBadRequest, "relay: no stun: or UDP turn: URL to check it by")
			return
		}
		ctx, cancel := context.WithTimeout(ss.srv.ctx, r.cfg.ReachTimeout)
		_, err := nat.RoundTrip(ctx, target, r.cfg.ReachTimeout)
		cancel()
		if err != nil {
			r.unreachables.Add(1)
			ss.fail(m.ID, wire.CodeUnreachable, "the directory cannot reach your relay at %s (behind a NAT or firewall?)", target)
			return
		}
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, storeTimeout)
	defer cancel()
	rec := relayRecord{URLs: m.URLs, Secret: m.Secret, Capacity: m.Capacity, Load: m.Load, Owner: ss.user, RelayFor: cmp.Or(m.RelayFor, wire.RelayForContacts)}
	if err := r.put(ctx, key, rec); err != nil {
		ss.log.Error("directory: register volunteer relay", "err", err)
		ss.fail(m.ID, wire.CodeInternal, "cannot register the relay; try again")
		return
	}
	ss.send(&wire.OK{Header: wire.Header{ID: m.ID}})
}

// SupernodeRegistration is the body of an operator supernode's POST
// /v1/supernodes: its registration, renewed as a heartbeat.
type SupernodeRegistration struct {
	ID       string   `json:"id"`               // 1-64 of A-Z a-z 0-9 _ -, chosen by the supernode
	URLs     []string `json:"urls"`             // stun:, turn: and turns: URLs clients reach it on
	Secret   string   `json:"secret,omitempty"` // its TURN REST secret; "" → the directory's --auth-secret
	Capacity int      `json:"capacity"`         // allocations it takes; 0: no limit
	Load     int      `json:"load"`             // allocations it holds now
}

// SupernodeRegistered is the directory's answer to a registration.
type SupernodeRegistered struct {
	// HeartbeatMS is how often to renew the registration, in milliseconds.
	HeartbeatMS int64 `json:"heartbeat_ms"`
}

var supernodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// authorizeSupernode reports whether the request carries the supernode
// token (if the directory has one), answering it if not.
func (s *Server) authorizeSupernode(w http.ResponseWriter, req *http.Request) bool {
	token := s.relays.cfg.SupernodeToken
	if token == "" {
		return true
	}
	got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		http.Error(w, "bad or missing supernode token", http.StatusUnauthorized)
		return false
	}
	return true
}

// serveSupernodeRegistration registers or renews an operator supernode.
func (s *Server) serveSupernodeRegistration(w http.ResponseWriter, req *http.Request) {
	if !s.authorizeSupernode(w, req) {
		return
	}
	var reg SupernodeRegistration
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxRegistrationBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		http.Error(w, "registration: "+err.Error(), http.StatusBadRequest)
		return
	}
	err := wire.CheckRelayFields(reg.URLs, reg.Secret, reg.Capacity, reg.Load)
	switch {
	case !supernodeIDPattern.MatchString(reg.ID):
		err = errors.New(`field "id" must be 1-64 of A-Z a-z 0-9 _ -`)
	case err == nil:
		err = checkRelayURLs(reg.URLs)
	}
	if err == nil && reg.Secret == "" && s.relays.cfg.AuthSecret == "" {
		err = errors.New("no secret: send one, or start the directory with --auth-secret")
	}
	if err != nil {
		http.Error(w, "registration: "+err.Error(), http.StatusBadRequest)
		return
	}
	rec := relayRecord{URLs: reg.URLs, Secret: reg.Secret, Capacity: reg.Capacity, Load: reg.Load}
	if err := s.relays.put(req.Context(), "op."+reg.ID, rec); err != nil {
		s.log.Error("directory: register supernode", "id", reg.ID, "err", err)
		http.Error(w, "cannot store the registration", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(SupernodeRegistered{HeartbeatMS: (s.relays.cfg.Expiry / 3).Milliseconds()})
}

// serveSupernodeRemoval forgets a supernode that is shutting down.
func (s *Server) serveSupernodeRemoval(w http.ResponseWriter, req *http.Request) {
	if !s.authorizeSupernode(w, req) {
		return
	}
	id := req.PathValue("id")
	if !supernodeIDPattern.MatchString(id) {
		http.Error(w, "bad supernode id", http.StatusBadRequest)
		return
	}
	if err := s.relays.remove(req.Context(), "op."+id); err != nil {
		s.log.Error("directory: remove supernode", "id", id, "err", err)
		http.Error(w, "cannot remove the registration", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
