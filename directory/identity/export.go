package identity

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// An exported identity is PEM of type "PARLEY ENCRYPTED IDENTITY" whose
// bytes are salt (16) || nonce (24) || XChaCha20-Poly1305 sealed PKCS #8 key,
// under a key derived from the passphrase with scrypt (RFC 7914; N = 2^15,
// r = 8, p = 1, the parameters the scrypt paper recommends for interactive
// use). The PEM header "Fingerprint" lets a person check a file without the
// passphrase.
const (
	exportPEMType = "PARLEY ENCRYPTED IDENTITY"
	exportAAD     = "parley identity export v1"
	scryptN       = 1 << 15
	scryptR       = 8
	scryptP       = 1
	saltSize      = 16
)

// ErrBadPassphrase means an exported identity does not open with the
// passphrase given (or was altered).
var ErrBadPassphrase = errors.New("wrong passphrase, or the identity file was altered")

// Export returns id encrypted with passphrase, to move it to another machine.
func Export(id *Identity, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("export identity: empty passphrase")
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.Private)
	if err != nil {
		return nil, fmt.Errorf("export identity: %w", err)
	}
	salt := make([]byte, saltSize, saltSize+chacha20poly1305.NonceSizeX+len(der)+chacha20poly1305.Overhead)
	_, _ = rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	aead, err := exportCipher(passphrase, salt)
	if err != nil {
		return nil, fmt.Errorf("export identity: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	_, _ = rand.Read(nonce)
	out := append(append(salt, nonce...), aead.Seal(nil, nonce, der, []byte(exportAAD))...)
	return pem.EncodeToMemory(&pem.Block{
		Type:    exportPEMType,
		Headers: map[string]string{"Fingerprint": id.Fingerprint()},
		Bytes:   out,
	}), nil
}

// Import opens an identity made by Export; a wrong passphrase fails with
// ErrBadPassphrase.
func Import(data, passphrase []byte) (*Identity, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("import identity: larger than %d bytes: %w", maxKeyFileSize, ErrBadKeyFile)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != exportPEMType || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("import identity: not one %q PEM block: %w", exportPEMType, ErrBadKeyFile)
	}
	b := block.Bytes
	if len(b) < saltSize+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("import identity: too short: %w", ErrBadKeyFile)
	}
	salt, nonce, sealed := b[:saltSize], b[saltSize:saltSize+chacha20poly1305.NonceSizeX], b[saltSize+chacha20poly1305.NonceSizeX:]
	aead, err := exportCipher(passphrase, salt)
	if err != nil {
		return nil, fmt.Errorf("import identity: %w", err)
	}
	der, err := aead.Open(nil, nonce, sealed, []byte(exportAAD))
	if err != nil {
		return nil, fmt.Errorf("import identity: %w", ErrBadPassphrase)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("import identity: %v: %w", err, ErrBadKeyFile)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("import identity: %T key: %w", parsed, ErrBadKeyFile)
	}
	return &Identity{Private: key}, nil
}

func exportCipher(passphrase, salt []byte) (cipher.AEAD, error) {
	key, err := scrypt.Key(passphrase, salt, scryptN, scryptR, scryptP, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(key)
}

// ErrIdentityExists means Save found a key file in place already.
var ErrIdentityExists = errors.New("an identity exists already")

// Save writes id to home/identity.key (mode 0600, home created 0700) unless
// a key file is there already (ErrIdentityExists): replacing one would
// silently change the user's identity.
func Save(home string, id *Identity) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.Private)
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	path := filepath.Join(home, KeyFile)
	created, err := createExclusive(path, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}))
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if !created {
		return fmt.Errorf("save identity: %s: %w", path, ErrIdentityExists)
	}
	return nil
}
