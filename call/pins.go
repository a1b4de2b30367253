package call

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/parley-voip/parley/directory/identity"
)

// PinsFile is the file in $PARLEY_HOME that keeps contacts' pinned keys.
const PinsFile = "known_keys.json"

// Pins are the identity keys of the people this user has called or been
// called by, pinned on first use (DESIGN §2). A call whose peer signs with
// another key than the pinned one is refused until the user re-verifies the
// peer (Verify). With a home directory the pins live in PinsFile there,
// shared by every parley process of the user; without, in memory.
type Pins struct {
	path string // "" → in memory

	// mu guards mem, and the file between processes' lock.
	mu  sync.Mutex
	mem map[string]Pin
}

// Pin is what is known of one peer's key.
type Pin struct {
	Key    []byte    `json:"key"`    // the pinned Ed25519 public key
	Pinned time.Time `json:"pinned"` // when it was pinned or last re-verified
	// Changed is a different key the peer signed a call with since: held
	// until the user verifies it (Verify) or the peer returns to Key.
	Changed []byte `json:"changed,omitempty"`
}

// OpenPins returns the pins kept in home; home "" keeps them in memory.
func OpenPins(home string) *Pins {
	p := &Pins{mem: make(map[string]Pin)}
	if home != "" {
		p.path = filepath.Join(home, PinsFile)
	}
	return p
}

// check pins key for user on first use and reports an error wrapping
// errKeyChanged if user has another key pinned.
func (p *Pins) check(user string, key ed25519.PublicKey) error {
	return p.update(func(pins map[string]Pin) (bool, error) {
		pin, ok := pins[user]
		switch {
		case !ok:
			pins[user] = Pin{Key: key, Pinned: time.Now().UTC()}
			return true, nil
		case bytes.Equal(pin.Key, key):
			return false, nil
		}
		changed := !bytes.Equal(pin.Changed, key)
		pin.Changed = key
		pins[user] = pin
		return changed, fmt.Errorf("%w: %s signed with key %s, but %s was pinned for %s; if %s really has a new key, check it with them and run 'parley verify %s'",
			errKeyChanged, user, identity.Fingerprint(key), identity.Fingerprint(pin.Key), user, user, user)
	})
}

// Verify accepts the changed key last seen from user, whose fingerprint the
// user has checked with them, and returns it. A fingerprint that does not
// match the changed key fails: the user checked something else.
func (p *Pins) Verify(user, fingerprint string) (ed25519.PublicKey, error) {
	var key ed25519.PublicKey
	err := p.update(func(pins map[string]Pin) (bool, error) {
		pin, ok := pins[user]
		switch {
		case !ok || len(pin.Changed) == 0:
			return false, fmt.Errorf("no changed key of %s to verify", user)
		case fingerprint != "" && identity.Fingerprint(pin.Changed) != fingerprint:
			return false, fmt.Errorf("%s's new key has fingerprint %s, not %s: do not trust it", user, identity.Fingerprint(pin.Changed), fingerprint)
		}
		key = pin.Changed
		pins[user] = Pin{Key: pin.Changed, Pinned: time.Now().UTC()}
		return true, nil
	})
	return key, err
}

// All returns every pin, by user.
func (p *Pins) All() (map[string]Pin, error) {
	var all map[string]Pin
	err := p.update(func(pins map[string]Pin) (bool, error) {
		all = pins
		return false, nil
	})
	return all, err
}

// update runs f on the pins, saving them if f says they changed (also when
// f fails: a changed key is kept while the call is refused).
func (p *Pins) update(f func(map[string]Pin) (changed bool, err error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.path == "" {
		_, err := f(p.mem)
		return err
	}
	lock, err := os.OpenFile(p.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pinned keys: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("pinned keys: lock: %w", err)
	}
	pins := make(map[string]Pin)
	data, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("pinned keys: %w", err)
	default:
		if err := json.Unmarshal(data, &pins); err != nil {
			return fmt.Errorf("pinned keys: %s: %w", p.path, err)
		}
	}
	changed, ferr := f(pins)
	if changed {
		if err := writeFileAtomic(p.path, pins); err != nil {
			return fmt.Errorf("pinned keys: %w", err)
		}
	}
	return ferr
}

// writeFileAtomic writes v as indented JSON to path through a temporary
// file, so a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
