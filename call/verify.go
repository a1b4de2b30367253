package call

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-voip/parley/directory"
)

// sdpPayload is the payload of offer and answer signals: the session
// description, signed by the sender's identity key (DESIGN §2). The SDP
// carries the DTLS fingerprint, so a directory that swaps it to sit in the
// middle of the media breaks the signature.
type sdpPayload struct {
	SDP string `json:"sdp"`
	// Leg names the sending phone among its user's devices.
	Leg string `json:"leg,omitempty"`
	Key []byte `json:"key"` // the sender's Ed25519 public key
	Sig []byte `json:"sig"` // Ed25519 over signedSDP
}

// sdpSigContext separates Parley's SDP signatures from anything else the
// identity key signs (the directory's login nonce).
const sdpSigContext = "parley sdp v1"

// signedSDP is what an offer or answer's signature covers: the kind, the
// call, both parties and the leg as well as the SDP, so that a signed
// description cannot be replayed into another call, to another user or as
// the other kind. Fields are length-prefixed, so none can spill into the
// next.
func signedSDP(kind directory.SignalKind, callID, from, to, leg, sdp string) []byte {
	var b []byte
	for _, f := range []string{sdpSigContext, string(kind), callID, from, to, leg, sdp} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeSDP reads an offer or answer from the user from, sent to the user
// to, and checks its signature against the key it carries; whether that key
// is the sender's is for the pins to say. It fails with errBadSignature.
func decodeSDP(sig directory.Signal, to string) (sdpPayload, error) {
	var p sdpPayload
	if err := json.Unmarshal(sig.Payload, &p); err != nil {
		return p, fmt.Errorf("%w: %s from %s: %w", errBadSignature, sig.Kind, sig.From, err)
	}
	if len(p.Key) != ed25519.PublicKeySize || len(p.Sig) != ed25519.SignatureSize {
		return p, fmt.Errorf("%w: %s from %s is not signed", errBadSignature, sig.Kind, sig.From)
	}
	if !ed25519.Verify(p.Key, signedSDP(sig.Kind, sig.CallID, sig.From, to, p.Leg, p.SDP), p.Sig) {
		return p, fmt.Errorf("%w: %s from %s was altered on the way", errBadSignature, sig.Kind, sig.From)
	}
	return p, nil
}

// legPayload is the payload of ringing, accept, reject and busy signals:
// which of the callee's devices it concerns. A caller's accept names the
// device whose answer won, so that the others stop ringing.
type legPayload struct {
	Leg string `json:"leg,omitempty"`
	// Reason says why a reject or hang-up was sent when it was not the
	// user's choice, for the peer to end the call with the same reason:
	// identity-refused, or ice-failed while connecting.
	Reason EndReason `json:"reason,omitempty"`
}

// decodeLeg reads a legPayload; a missing or malformed one names no leg.
func decodeLeg(raw json.RawMessage) legPayload {
	var p legPayload
	if len(raw) > 0 {
		json.Unmarshal(raw, &p) // untrusted and optional: what does not parse names no leg
	}
	return p
}

// SAS is a call's short authentication string: six digits derived from both
// sides' DTLS certificate fingerprints, identical at both ends of an honest
// call. Two people who read it aloud and hear the same digits know that no
// one sits in the middle of their media, even on a first call, before any
// key is pinned.
func sas(localSDP, remoteSDP string) string {
	fps := []string{dtlsFingerprint(localSDP), dtlsFingerprint(remoteSDP)}
	if fps[0] == "" || fps[1] == "" {
		return ""
	}
	slices.Sort(fps) // the same order at both ends
	sum := sha256.Sum256([]byte("parley sas v1\x00" + fps[0] + "\x00" + fps[1]))
	return fmt.Sprintf("%06d", binary.BigEndian.Uint32(sum[:4])%1_000_000)
}

// dtlsFingerprint returns the first a=fingerprint attribute of sdp
// (RFC 8122 §5), hash name and value, lower-cased; "" if there is none.
func dtlsFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:"); ok {
			return strings.ToLower(v)
		}
	}
	return ""
}
