// Package identity keeps a Parley user's Ed25519 key pair (DESIGN §2) in
// $PARLEY_HOME/identity.key and derives its fingerprint.
//
// The key file is PEM of type "PRIVATE KEY" holding a PKCS #8 Ed25519 key
// (RFC 8410 §7), the format `openssl genpkey -algorithm ed25519` writes, so
// `openssl pkey -in identity.key -pubout` shows the public key. It must have
// mode 0600 (no group or other permission bits).
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name of the key file inside the home directory.
const KeyFile = "identity.key"

const pemType = "PRIVATE KEY"

// maxKeyFileSize bounds what Load reads; an Ed25519 PKCS #8 PEM is 119 bytes.
const maxKeyFileSize = 4 << 10

var (
	// ErrNoIdentity means the home directory holds no key file.
	ErrNoIdentity = errors.New("no identity")
	// ErrBadKeyFile means the key file is not a PEM PKCS #8 Ed25519 private key.
	ErrBadKeyFile = errors.New("invalid identity key file")
	// ErrInsecureKeyFile means group or others have permissions on the key file.
	ErrInsecureKeyFile = errors.New("identity key file is accessible to group or others")
)

// Identity is a user's Ed25519 key pair (DESIGN §2).
type Identity struct {
	Private ed25519.PrivateKey
}

// Public returns the public half of the key pair.
func (id *Identity) Public() ed25519.PublicKey {
	return id.Private.Public().(ed25519.PublicKey)
}

// Fingerprint returns the fingerprint of the identity's public key.
func (id *Identity) Fingerprint() string { return Fingerprint(id.Public()) }

// Fingerprint returns a short, readable-aloud fingerprint of pub: the first
// 100 bits of its SHA-256 in base32 (A–Z, 2–7, so no 0/O or 1/I confusion),
// as five groups of four, e.g. "MZXW-6YTB-OI3C-AZDE-NBSW". 100 bits is far
// beyond what an attacker can match by generating keys.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	text := base32.StdEncoding.EncodeToString(sum[:])[:20]
	groups := make([]string, 0, 5)
	for i := 0; i < len(text); i += 4 {
		groups = append(groups, text[i:i+4])
	}
	return strings.Join(groups, "-")
}

// Load reads home/identity.key; it fails with ErrNoIdentity if there is none,
// ErrInsecureKeyFile if its mode allows group or others anything, and
// ErrBadKeyFile if it is not a PEM PKCS #8 Ed25519 private key.
func Load(home string) (*Identity, error) {
	path := filepath.Join(home, KeyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file: %w", path, ErrBadKeyFile)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o (run: chmod 600 %s): %w", path, perm, path, ErrInsecureKeyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrBadKeyFile)
	}
	return &Identity{Private: key}, nil
}

func parseKey(data []byte) (ed25519.PrivateKey, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("PEM type %q, want %q", block.Type, pemType)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T key, want Ed25519", parsed)
	}
	return key, nil
}

// LoadOrCreate loads home/identity.key, or on first use creates home (mode
// 0700) and a new key there (mode 0600). It never replaces an existing key
// file, even an invalid one: that would silently change the user's identity.
func LoadOrCreate(home string) (*Identity, error) {
	id, err := Load(home)
	if !errors.Is(err, ErrNoIdentity) {
		return id, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
	created, err := createExclusive(filepath.Join(home, KeyFile), data)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if !created {
		// Another process created the key meanwhile; it is the identity now.
		return Load(home)
	}
	return &Identity{Private: key}, nil
}

// createExclusive writes data to path (mode 0600) unless path exists, and
// reports whether it did. The data goes to a temporary file that is then
// hard-linked into place, so path never holds a partial key.
func createExclusive(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	return true, d.Sync()
}
