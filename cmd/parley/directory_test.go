package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// startDirectoryOn runs 'parley directory' with args and returns its address.
func startDirectoryOn(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := startParley(t, append([]string{"directory", "--listen", "127.0.0.1:0"}, args...)...)
	line := p.await(t, "directory listening on", 10*time.Second)
	return p, strings.TrimSpace(strings.TrimPrefix(line, "directory listening on"))
}

func newTestIdentity() *identity.Identity {
	_, key, _ := ed25519.GenerateKey(rand.Reader) // never fails (crypto/rand)
	return &identity.Identity{Private: key}
}

func dialAs(ctx context.Context, addr, user string, id *identity.Identity) (*directory.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return directory.Dial(ctx, directory.ClientConfig{URL: addr, User: user, Identity: id})
}

// TestDirectoryRestartLosesNothing kills the directory with SIGKILL while
// accounts are being created, restarts it on the same data, and checks that
// every account whose creation was acknowledged is still bound to its key.
func TestDirectoryRestartLosesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p, addr := startDirectoryOn(t, "--data", data)

	var (
		mu    sync.Mutex
		acked = make(map[string]*identity.Identity)
		wg    sync.WaitGroup
	)
	const writers = 4
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				user := fmt.Sprintf("user-%d-%d", w, i)
				id := newTestIdentity()
				c, err := dialAs(context.Background(), addr, user, id)
				if err != nil {
					return // the directory is gone
				}
				mu.Lock()
				acked[user] = id
				mu.Unlock()
				c.Close()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d accounts created before the kill; the test needs more", len(acked))
	}

	restart := time.Now()
	_, addr = startDirectoryOn(t, "--data", data)
	t.Logf("restart took %v", time.Since(restart))
	check := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for user := range check {
				c, err := dialAs(context.Background(), addr, user, acked[user])
				if err != nil {
					t.Errorf("after restart %s cannot log in with its key: %v", user, err)
					continue
				}
				c.Close()
				if _, err := dialAs(context.Background(), addr, user, newTestIdentity()); !errors.Is(err, directory.ErrNameTaken) {
					t.Errorf("after restart another key logs in as %s: %v", user, err)
				}
			}
		}()
	}
	for user := range acked {
		check <- user
	}
	close(check)
	wg.Wait()
	t.Logf("%d acknowledged accounts survived SIGKILL and restart", len(acked))
}
