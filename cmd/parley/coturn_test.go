package main

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/nat/relayload"
)

// TestCallThroughCoturn makes a relay-only call through Debian's coturn
// with TURN REST credentials (use-auth-secret): the DESIGN §4 contract for
// running Parley against other TURN servers.
func TestCallThroughCoturn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	if _, err := exec.LookPath("turnserver"); errors.Is(err, exec.ErrNotFound) {
		t.Skip("coturn is not installed (make test installs it)")
	}
	coturn, err := relayload.StartCoturn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer coturn.Close()

	ice := func(user string) []string {
		username, password := coturn.Credentials(user)
		return []string{"--relay-only", "--ice-server", "turn:" + coturn.Addr + "?transport=udp",
			"--ice-username", username, "--ice-credential", password}
	}
	r := talk{dirAddr: startDirectory(t), aliceFlags: ice("alice"), bobFlags: ice("bob")}.run(t)
	for _, s := range []call.Stats{r.alice, r.bob} {
		if s.Path != "relay" || s.EndReason == call.EndFailed || s.SetupMS > 1600 {
			t.Errorf("%s: path %q (%s/%s), end %s, setup %.0f ms; want a relayed call set up within 1.6 s",
				s.Direction, s.Path, s.LocalCandidateType, s.RemoteCandidateType, s.EndReason, s.SetupMS)
		}
	}
	r.checkHeard(t)
}
