package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store keeps the directory's durable state: accounts (username → public
// key), each user's contact list and each user's settings.
type Store interface {
	// ClaimAccount binds user to key if unclaimed; it returns ErrNameTaken if
	// user is bound to another key and nil if it is bound to key already.
	ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error
	// Account returns the key bound to user, or ErrNoSuchUser.
	Account(ctx context.Context, user string) (ed25519.PublicKey, error)
	// Contacts returns owner's contact list (empty if none), peer → record.
	Contacts(ctx context.Context, owner string) (map[string]ContactRecord, error)
	// UpdateContacts applies change to owner's contact list atomically,
	// retrying it on a concurrent update.
	UpdateContacts(ctx context.Context, owner string, change func(map[string]ContactRecord)) error
	// Settings returns user's settings (the zero value if none).
	Settings(ctx context.Context, user string) (Settings, error)
	// UpdateSettings applies change to user's settings atomically.
	UpdateSettings(ctx context.Context, user string, change func(*Settings)) error
}

// ContactRecord is one entry of a user's contact list, as that user sees it.
type ContactRecord struct {
	State   string    `json:"state"`             // ContactIncoming, ContactOutgoing, ContactAccepted, ContactDeclined or ContactBlocked
	Message string    `json:"message,omitempty"` // the request's message
	Updated time.Time `json:"updated"`
	// BlockedByPeer records that the peer blocked the owner. It is never
	// shown to the owner, who learns nothing: no presence, no calls, and a
	// request that stays outgoing for ever.
	BlockedByPeer bool `json:"blocked_by_peer,omitempty"`
}

// mutual reports whether the owner may see the peer's presence: both
// accepted and the peer has not blocked the owner since.
func (r ContactRecord) mutual() bool { return r.State == ContactAccepted && !r.BlockedByPeer }

// Settings are what the directory keeps about a user besides the key.
type Settings struct {
	Status   string    `json:"status,omitempty"` // chosen status: online, away, busy or invisible ("" is online)
	Note     string    `json:"note,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"` // when the user's last session ended
}

// accountsBucket is the JetStream key-value bucket of accounts: key the
// username (see natsToken), value an accountRecord.
const accountsBucket = "parley_accounts"

// contactsBucket holds one key per user (natsToken) whose value is the
// JSON object of its contact list, peer → ContactRecord; settingsBucket
// one key per user, its Settings.
const (
	contactsBucket = "parley_contacts"
	settingsBucket = "parley_settings"
)

// storeRetryInterval is how often OpenStore retries a bucket JetStream is
// not ready to create.
const (
	storeRetryInterval  = 250 * time.Millisecond
	storeAttemptTimeout = 2 * time.Second
)

// maxUpdateAttempts bounds the compare-and-set retries of one update.
const maxUpdateAttempts = 20

// accountRecord is one account's value in the accounts bucket:
//
//	{"key":"<base64 Ed25519 public key>"}
type accountRecord struct {
	Key []byte `json:"key"`
}

// OpenStore returns the Store kept in n's JetStream, creating its bucket if
// needed. Claims are atomic across every directory on the same NATS (a
// key-value create), so two nodes cannot bind one name to two keys.
func OpenStore(ctx context.Context, n *NATS) (Store, error) {
	s := &kvStore{}
	for _, b := range []struct {
		kv          *jetstream.KeyValue
		name, about string
	}{
		{&s.accounts, accountsBucket, "Parley accounts: username → Ed25519 public key"},
		{&s.contacts, contactsBucket, "Parley contact lists: username → {peer: record}"},
		{&s.settings, settingsBucket, "Parley user settings: username → status, note, last seen"},
	} {
		kv, err := openBucket(ctx, n, jetstream.KeyValueConfig{
			Bucket:      b.name,
			Description: b.about,
			History:     1,
			Storage:     n.storage,
			Replicas:    n.replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("open directory store: %w", err)
		}
		*b.kv = kv
	}
	return s, nil
}

// openBucket creates or opens the bucket cfg describes. A cluster that is
// still electing its JetStream leader refuses for a while; a directory
// started with it waits for it, up to ctx.
func openBucket(ctx context.Context, n *NATS, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	for {
		// Each attempt is short: a cluster without a leader yet does not
		// answer at all.
		actx, cancel := context.WithTimeout(ctx, storeAttemptTimeout)
		kv, err := n.js.CreateOrUpdateKeyValue(actx, cfg)
		cancel()
		if err == nil {
			return kv, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
		case <-time.After(storeRetryInterval):
		}
	}
}

type kvStore struct{ accounts, contacts, settings jetstream.KeyValue }

func (s *kvStore) ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("claim account %q: key is %d bytes, want %d", user, len(key), ed25519.PublicKeySize)
	}
	value, err := json.Marshal(accountRecord{Key: key})
	if err != nil {
		return fmt.Errorf("claim account %q: %w", user, err)
	}
	_, err = s.accounts.Create(ctx, natsToken(user), value)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("claim account %q: %w", user, err)
	}
	owner, err := s.Account(ctx, user)
	if err != nil {
		return fmt.Errorf("claim account %q: %w", user, err)
	}
	if !owner.Equal(key) {
		return fmt.Errorf("claim account %q: %w", user, ErrNameTaken)
	}
	return nil
}

func (s *kvStore) Account(ctx context.Context, user string) (ed25519.PublicKey, error) {
	entry, err := s.accounts.Get(ctx, natsToken(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("account %q: %w", user, ErrNoSuchUser)
	}
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", user, err)
	}
	var rec accountRecord
	dec := json.NewDecoder(bytes.NewReader(entry.Value()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || len(rec.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("account %q: corrupt record %q", user, entry.Value())
	}
	return rec.Key, nil
}

func (s *kvStore) Contacts(ctx context.Context, owner string) (map[string]ContactRecord, error) {
	list := make(map[string]ContactRecord)
	if _, err := getJSON(ctx, s.contacts, owner, &list); err != nil {
		return nil, fmt.Errorf("contacts of %s: %w", owner, err)
	}
	return list, nil
}

func (s *kvStore) UpdateContacts(ctx context.Context, owner string, change func(map[string]ContactRecord)) error {
	err := updateJSON(ctx, s.contacts, owner, func() *map[string]ContactRecord {
		list := make(map[string]ContactRecord)
		return &list
	}, func(list *map[string]ContactRecord) { change(*list) })
	if err != nil {
		return fmt.Errorf("update contacts of %s: %w", owner, err)
	}
	return nil
}

func (s *kvStore) Settings(ctx context.Context, user string) (Settings, error) {
	var st Settings
	if _, err := getJSON(ctx, s.settings, user, &st); err != nil {
		return Settings{}, fmt.Errorf("settings of %s: %w", user, err)
	}
	return st, nil
}

func (s *kvStore) UpdateSettings(ctx context.Context, user string, change func(*Settings)) error {
	if err := updateJSON(ctx, s.settings, user, func() *Settings { return new(Settings) }, change); err != nil {
		return fmt.Errorf("update settings of %s: %w", user, err)
	}
	return nil
}

// getJSON decodes user's value in kv into v and returns its revision, 0 if
// there is none (v is then left as it is).
func getJSON(ctx context.Context, kv jetstream.KeyValue, user string, v any) (uint64, error) {
	entry, err := kv.Get(ctx, natsToken(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(entry.Value(), v); err != nil {
		return 0, fmt.Errorf("corrupt record: %w", err)
	}
	return entry.Revision(), nil
}

// updateJSON is a compare-and-set loop over user's value in kv: it reads
// it into a fresh value, applies change and writes it back only if nobody
// wrote in between, retrying otherwise.
func updateJSON[T any](ctx context.Context, kv jetstream.KeyValue, user string, fresh func() *T, change func(*T)) error {
	key := natsToken(user)
	for range maxUpdateAttempts {
		v := fresh()
		rev, err := getJSON(ctx, kv, user, v)
		if err != nil {
			return err
		}
		change(v)
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, data)
		} else {
			_, err = kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
	return fmt.Errorf("%d concurrent updates in a row", maxUpdateAttempts)
}

// natsToken turns a username into one NATS subject token and key-value key.
// Usernames may hold dots, which separate tokens in NATS (and may not end a
// key); "=" may not appear in a username, so the mapping is one to one.
func natsToken(user string) string { return strings.ReplaceAll(user, ".", "=") }

// userOfToken reverses natsToken.
func userOfToken(token string) string { return strings.ReplaceAll(token, "=", ".") }
