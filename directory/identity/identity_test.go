package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLoadOrCreateCreatesThenLoads(t *testing.T) {
	home := filepath.Join(t.TempDir(), "parley")
	created, err := LoadOrCreate(home)
	if err != nil {
		t.Fatalf("first LoadOrCreate: %v", err)
	}
	dirInfo, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	if perm := dirInfo.Mode().Perm(); perm != 0o700 {
		t.Errorf("home mode %04o, want 0700", perm)
	}
	keyInfo, err := os.Stat(filepath.Join(home, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := keyInfo.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	leftovers, _ := filepath.Glob(filepath.Join(home, ".*.tmp"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	again, err := LoadOrCreate(home)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	loaded, err := Load(home)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for name, id := range map[string]*Identity{"LoadOrCreate": again, "Load": loaded} {
		if !id.Private.Equal(created.Private) {
			t.Errorf("%s returned a different key than the one created", name)
		}
	}
	msg := []byte("hello")
	if !ed25519.Verify(loaded.Public(), msg, ed25519.Sign(created.Private, msg)) {
		t.Error("Public does not verify signatures of Private")
	}
}

func TestLoadWithoutKeyIsErrNoIdentity(t *testing.T) {
	_, err := Load(t.TempDir())
	if !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Load of an empty home: %v, want ErrNoIdentity", err)
	}
}

func TestKeyFileWithLoosePermissionsIsRejected(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		home := t.TempDir()
		if _, err := LoadOrCreate(home); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(home, KeyFile)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(home); !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("Load with mode %04o: %v, want ErrInsecureKeyFile", mode, err)
		}
		if _, err := LoadOrCreate(home); !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("LoadOrCreate with mode %04o: %v, want ErrInsecureKeyFile", mode, err)
		}
	}
}

func TestMalformedKeyFileIsRejectedAndKept(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	valid := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not-pem", []byte("just some text\n")},
		{"raw-seed", edKey.Seed()},
		{"wrong-pem-type", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: edDER})},
		{"ecdsa-key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
		{"truncated-der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER[:len(edDER)-3]})},
		{"trailing-data", append(append([]byte{}, valid...), "extra"...)},
		{"two-keys", append(append([]byte{}, valid...), valid...)},
		{"oversized", append(append([]byte{}, valid...), make([]byte, maxKeyFileSize)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, KeyFile)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(home); !errors.Is(err, ErrBadKeyFile) {
				t.Errorf("Load: %v, want ErrBadKeyFile", err)
			}
			if _, err := LoadOrCreate(home); !errors.Is(err, ErrBadKeyFile) {
				t.Errorf("LoadOrCreate: %v, want ErrBadKeyFile", err)
			}
			after, err := os.ReadFile(path)
			if err != nil || string(after) != string(tt.data) {
				t.Error("LoadOrCreate changed a malformed key file; it must never replace an identity")
			}
		})
	}
}

func TestLoadAcceptsOpenSSLStyleFile(t *testing.T) {
	// The private key of RFC 8410 §10.3, in the layout openssl writes.
	const file = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, KeyFile), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := Load(home)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Its public key, RFC 8410 §10.1 (and `openssl pkey -pubout`).
	const wantPublic = "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
	if got := hex.EncodeToString(id.Public()); got != wantPublic {
		t.Errorf("public key %s, want %s", got, wantPublic)
	}
}

func TestFingerprint(t *testing.T) {
	a := &Identity{Private: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 1
	b := &Identity{Private: ed25519.NewKeyFromSeed(seed)}

	fp := a.Fingerprint()
	if !regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$`).MatchString(fp) {
		t.Errorf("fingerprint %q is not five groups of four base32 characters", fp)
	}
	if fp != a.Fingerprint() || fp != Fingerprint(a.Public()) {
		t.Error("fingerprint is not stable")
	}
	if fp == b.Fingerprint() {
		t.Errorf("different keys share fingerprint %q", fp)
	}
}

func TestConcurrentFirstUseAgreesOnOneKey(t *testing.T) {
	home := filepath.Join(t.TempDir(), "parley")
	const racers = 8
	keys := make(chan ed25519.PrivateKey, racers)
	errs := make(chan error, racers)
	for range racers {
		go func() {
			id, err := LoadOrCreate(home)
			if err != nil {
				errs <- err
				return
			}
			keys <- id.Private
		}()
	}
	var first ed25519.PrivateKey
	for range racers {
		select {
		case err := <-errs:
			t.Fatalf("LoadOrCreate: %v", err)
		case key := <-keys:
			if first == nil {
				first = key
			} else if !key.Equal(first) {
				t.Fatal("concurrent first uses created different identities")
			}
		}
	}
}

func TestExportImport(t *testing.T) {
	id, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := Export(id, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), id.Fingerprint()) {
		t.Errorf("export does not show the fingerprint:\n%s", data)
	}
	got, err := Import(data, []byte("correct horse"))
	if err != nil || !got.Private.Equal(id.Private) {
		t.Fatalf("Import = %v, %v; want the exported key", got, err)
	}
	if _, err := Import(data, []byte("wrong horse")); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("Import with a wrong passphrase: %v, want ErrBadPassphrase", err)
	}
	tampered := bytes.Replace(data, data[len(data)-40:len(data)-39], []byte{data[len(data)-40] ^ 1}, 1)
	if _, err := Import(tampered, []byte("correct horse")); err == nil {
		t.Error("Import accepted an altered file")
	}
	if _, err := Export(id, nil); err == nil {
		t.Error("Export with an empty passphrase succeeded")
	}

	home := t.TempDir()
	if err := Save(home, got); err != nil {
		t.Fatal(err)
	}
	if loaded, err := Load(home); err != nil || !loaded.Private.Equal(id.Private) {
		t.Errorf("Load after Save = %v, %v", loaded, err)
	}
	if err := Save(home, got); !errors.Is(err, ErrIdentityExists) {
		t.Errorf("Save over an existing key: %v, want ErrIdentityExists", err)
	}
}

func FuzzImport(f *testing.F) {
	id := &Identity{Private: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	data, err := Export(id, []byte("p"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("-----BEGIN PARLEY ENCRYPTED IDENTITY-----\nAAAA\n-----END PARLEY ENCRYPTED IDENTITY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := Import(data, []byte("p")); err == nil && got == nil {
			t.Error("Import returned neither an identity nor an error")
		}
	})
}
