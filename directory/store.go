package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// Store keeps accounts (username → public key). It is small on purpose: a
// replicated NATS JetStream KV store replaces the implementations here.
type Store interface {
	// ClaimAccount binds user to key if unclaimed; it returns ErrNameTaken if
	// user is bound to another key and nil if it is bound to key already.
	ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error
	// Account returns the key bound to user, or ErrNoSuchUser.
	Account(ctx context.Context, user string) (ed25519.PublicKey, error)
	// Close releases the store; later calls fail with ErrClosed.
	Close() error
}

// NewMemoryStore returns a Store that forgets everything when the process ends.
func NewMemoryStore() Store {
	return &mapStore{accounts: make(map[string]ed25519.PublicKey)}
}

// accountsFile is the FileStore's file inside its directory.
const accountsFile = "accounts.json"

// accountsFileVersion is the version of the accounts file layout.
const accountsFileVersion = 1

// accountsDoc is the accounts file:
//
//	{"version":1,"accounts":{"alice":{"key":"<base64 Ed25519 public key>"}}}
type accountsDoc struct {
	Version  int                      `json:"version"`
	Accounts map[string]accountRecord `json:"accounts"`
}

type accountRecord struct {
	Key []byte `json:"key"`
}

// OpenFileStore returns a Store that keeps accounts in DIR/accounts.json,
// creating dir (mode 0700) if needed. Each new account rewrites the file
// atomically (temporary file, fsync, rename, fsync of dir), so a crash leaves
// either the old or the new file. One process at a time may use dir.
func OpenFileStore(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open account store: %w", err)
	}
	path := filepath.Join(dir, accountsFile)
	accounts, err := readAccounts(path)
	if err != nil {
		return nil, fmt.Errorf("open account store: %w", err)
	}
	return &mapStore{
		accounts: accounts,
		save:     func(a map[string]ed25519.PublicKey) error { return writeAccounts(path, a) },
	}, nil
}

// mapStore is the in-memory Store, and the file store when save is set.
type mapStore struct {
	save func(map[string]ed25519.PublicKey) error // persists all accounts; nil keeps them in memory only

	// mu guards the following fields.
	mu       sync.Mutex
	accounts map[string]ed25519.PublicKey
	closed   bool
}

func (s *mapStore) ClaimAccount(ctx context.Context, user string, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("claim account %q: key is %d bytes, want %d", user, len(key), ed25519.PublicKeySize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("claim account %q: %w", user, ErrClosed)
	}
	if owner, ok := s.accounts[user]; ok {
		if !owner.Equal(key) {
			return fmt.Errorf("claim account %q: %w", user, ErrNameTaken)
		}
		return nil
	}
	s.accounts[user] = bytes.Clone(key)
	if s.save != nil {
		if err := s.save(s.accounts); err != nil {
			delete(s.accounts, user)
			return fmt.Errorf("claim account %q: %w", user, err)
		}
	}
	return nil
}

func (s *mapStore) Account(ctx context.Context, user string) (ed25519.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("account %q: %w", user, ErrClosed)
	}
	key, ok := s.accounts[user]
	if !ok {
		return nil, fmt.Errorf("account %q: %w", user, ErrNoSuchUser)
	}
	return bytes.Clone(key), nil
}

func (s *mapStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func readAccounts(path string) (map[string]ed25519.PublicKey, error) {
	accounts := make(map[string]ed25519.PublicKey)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return accounts, nil
	}
	if err != nil {
		return nil, err
	}
	var doc accountsDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Version != accountsFileVersion {
		return nil, fmt.Errorf("%s: unsupported version %d", path, doc.Version)
	}
	for user, rec := range doc.Accounts {
		if !wire.ValidUsername(user) || len(rec.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: invalid account %q", path, user)
		}
		accounts[user] = rec.Key
	}
	return accounts, nil
}

func writeAccounts(path string, accounts map[string]ed25519.PublicKey) error {
	doc := accountsDoc{Version: accountsFileVersion, Accounts: make(map[string]accountRecord, len(accounts))}
	for user, key := range accounts {
		doc.Accounts[user] = accountRecord{Key: key}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// writeFileAtomic replaces path with data so that a crash at any point leaves
// either the old or the new content.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the directory entry is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
