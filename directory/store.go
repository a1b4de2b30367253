package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Store keeps accounts (username → public key).
type Store interface {
	// ClaimAccount binds user to key if unclaimed; it returns ErrNameTaken if
	// user is bound to another key and nil if it is bound to key already.
	ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error
	// Account returns the key bound to user, or ErrNoSuchUser.
	Account(ctx context.Context, user string) (ed25519.PublicKey, error)
}

// accountsBucket is the JetStream key-value bucket of accounts: key the
// username (see natsToken), value an accountRecord.
const accountsBucket = "parley_accounts"

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
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      accountsBucket,
		Description: "Parley accounts: username → Ed25519 public key",
		History:     1,
		Storage:     n.storage,
		Replicas:    n.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open account store: %w", err)
	}
	return &kvStore{kv: kv}, nil
}

type kvStore struct{ kv jetstream.KeyValue }

func (s *kvStore) ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("claim account %q: key is %d bytes, want %d", user, len(key), ed25519.PublicKeySize)
	}
	value, err := json.Marshal(accountRecord{Key: key})
	if err != nil {
		return fmt.Errorf("claim account %q: %w", user, err)
	}
	_, err = s.kv.Create(ctx, natsToken(user), value)
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
	entry, err := s.kv.Get(ctx, natsToken(user))
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

// natsToken turns a username into one NATS subject token and key-value key.
// Usernames may hold dots, which separate tokens in NATS (and may not end a
// key); "=" may not appear in a username, so the mapping is one to one.
func natsToken(user string) string { return strings.ReplaceAll(user, ".", "=") }

// userOfToken reverses natsToken.
func userOfToken(token string) string { return strings.ReplaceAll(token, "=", ".") }
