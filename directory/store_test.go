package directory_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-voip/parley/directory"
)

func TestStores(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) directory.Store
	}{
		{"memory", func(*testing.T) directory.Store { return directory.NewMemoryStore() }},
		{"file", func(t *testing.T) directory.Store {
			s, err := directory.OpenFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			s := st.open(t)
			alice, mallory := newIdentity(t).Public(), newIdentity(t).Public()

			if _, err := s.Account(ctx, "alice"); !errors.Is(err, directory.ErrNoSuchUser) {
				t.Errorf("Account of an unclaimed name: %v, want ErrNoSuchUser", err)
			}
			if err := s.ClaimAccount(ctx, "alice", alice); err != nil {
				t.Fatalf("first claim: %v", err)
			}
			if err := s.ClaimAccount(ctx, "alice", alice); err != nil {
				t.Errorf("claim by the owner again: %v", err)
			}
			if err := s.ClaimAccount(ctx, "alice", mallory); !errors.Is(err, directory.ErrNameTaken) {
				t.Errorf("claim with another key: %v, want ErrNameTaken", err)
			}
			if err := s.ClaimAccount(ctx, "bob", ed25519.PublicKey{1, 2, 3}); err == nil {
				t.Error("claim with a 3-byte key succeeded")
			}
			got, err := s.Account(ctx, "alice")
			if err != nil || !got.Equal(alice) {
				t.Errorf("Account(alice) = %x, %v; want %x", got, err, alice)
			}
			got[0] ^= 0xff // the store must have handed out a copy
			if again, _ := s.Account(ctx, "alice"); !again.Equal(alice) {
				t.Error("modifying a returned key changed the stored one")
			}

			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Account(ctx, "alice"); !errors.Is(err, directory.ErrClosed) {
				t.Errorf("Account after Close: %v, want ErrClosed", err)
			}
			if err := s.ClaimAccount(ctx, "carol", alice); !errors.Is(err, directory.ErrClosed) {
				t.Errorf("ClaimAccount after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func TestFileStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	alice := newIdentity(t).Public()
	bob := newIdentity(t).Public()

	s, err := directory.OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for user, key := range map[string]ed25519.PublicKey{"alice": alice, "bob": bob} {
		if err := s.ClaimAccount(ctx, user, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "accounts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("accounts file mode %04o, want 0600", perm)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	reopened, err := directory.OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	for user, key := range map[string]ed25519.PublicKey{"alice": alice, "bob": bob} {
		got, err := reopened.Account(ctx, user)
		if err != nil || !got.Equal(key) {
			t.Errorf("after reopen Account(%s) = %x, %v; want %x", user, got, err, key)
		}
	}
	if err := reopened.ClaimAccount(ctx, "alice", bob); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("after reopen another key claimed alice: %v", err)
	}
}

func TestFileStoreRejectsCorruptFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"not-json", "{accounts"},
		{"wrong-version", `{"version":2,"accounts":{}}`},
		{"unknown-field", `{"version":1,"accounts":{},"extra":1}`},
		{"bad-username", `{"version":1,"accounts":{"Alice":{"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}}`},
		{"short-key", `{"version":1,"accounts":{"alice":{"key":"AAAA"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "accounts.json"), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := directory.OpenFileStore(dir); err == nil {
				t.Error("OpenFileStore accepted a corrupt accounts file")
			}
		})
	}
}
