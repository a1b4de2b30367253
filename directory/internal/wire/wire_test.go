package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	testSig = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 64))
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name     string
		frame    string
		wantCode string // "" means the frame decodes
		wantID   string // the id the error echoes
	}{
		{"login", `{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `","sig":"` + testSig + `"}`, "", ""},
		{"lookup", `{"v":1,"type":"lookup","id":"a-b","user":"bob.smith"}`, "", ""},
		{"signal-with-payload", `{"v":1,"type":"signal","id":"7","to":"bob","call_id":"c1","kind":"offer","payload":{"sdp":"v=0"}}`, "", ""},
		{"signal-without-payload", `{"v":1,"type":"signal","id":"7","to":"bob","call_id":"c1","kind":"hangup"}`, "", ""},
		{"ping", `{"v":1,"type":"ping","id":"p"}`, "", ""},
		{"whitespace-around", " \n{\"v\":1,\"type\":\"ping\",\"id\":\"p\"}\n ", "", ""},

		{"not-json", `hello`, CodeBadRequest, ""},
		{"empty", ``, CodeBadRequest, ""},
		{"array", `[1,2]`, CodeBadRequest, ""},
		{"string", `"ping"`, CodeBadRequest, ""},
		{"truncated", `{"v":1,"type":"ping","id":"p"`, CodeBadRequest, ""},
		{"trailing-object", `{"v":1,"type":"ping","id":"p"}{}`, CodeBadRequest, ""},
		{"trailing-garbage", `{"v":1,"type":"ping","id":"p"} x`, CodeBadRequest, ""},
		{"duplicate-field", `{"v":1,"type":"lookup","id":"1","user":"bob","user":"eve"}`, CodeBadRequest, ""},
		{"missing-version", `{"type":"ping","id":"p"}`, CodeBadRequest, "p"},
		{"version-as-string", `{"v":"1","type":"ping","id":"p"}`, CodeBadRequest, "p"},
		{"version-as-float", `{"v":1.5,"type":"ping","id":"p"}`, CodeBadRequest, "p"},
		{"wrong-version", `{"v":2,"type":"ping","id":"p"}`, CodeBadVersion, "p"},
		{"missing-type", `{"v":1,"id":"p"}`, CodeBadRequest, "p"},
		{"empty-type", `{"v":1,"type":"","id":"p"}`, CodeBadRequest, "p"},
		{"unknown-type", `{"v":1,"type":"subscribe","id":"p"}`, CodeUnknownType, "p"},
		{"server-type", `{"v":1,"type":"hello","id":"p"}`, CodeUnknownType, "p"},
		{"missing-id", `{"v":1,"type":"ping"}`, CodeBadRequest, ""},
		{"numeric-id", `{"v":1,"type":"ping","id":1}`, CodeBadRequest, ""},
		{"empty-id", `{"v":1,"type":"ping","id":""}`, CodeBadRequest, ""},
		{"long-id", `{"v":1,"type":"ping","id":"` + strings.Repeat("x", 65) + `"}`, CodeBadRequest, ""},
		{"id-with-space", `{"v":1,"type":"ping","id":"a b"}`, CodeBadRequest, ""},
		{"unknown-field", `{"v":1,"type":"ping","id":"p","extra":true}`, CodeBadRequest, "p"},
		{"wrong-case-field", `{"v":1,"type":"lookup","id":"1","User":"bob"}`, CodeBadRequest, "1"},
		{"field-of-other-type", `{"v":1,"type":"lookup","id":"1","user":"bob","call_id":"c"}`, CodeBadRequest, "1"},
		{"lookup-missing-user", `{"v":1,"type":"lookup","id":"1"}`, CodeBadRequest, "1"},
		{"lookup-user-not-string", `{"v":1,"type":"lookup","id":"1","user":5}`, CodeBadRequest, "1"},
		{"lookup-bad-username", `{"v":1,"type":"lookup","id":"1","user":"Bob"}`, CodeBadUsername, "1"},
		{"lookup-short-username", `{"v":1,"type":"lookup","id":"1","user":"bo"}`, CodeBadUsername, "1"},
		{"lookup-long-username", `{"v":1,"type":"lookup","id":"1","user":"` + strings.Repeat("b", 33) + `"}`, CodeBadUsername, "1"},
		{"lookup-username-leading-dot", `{"v":1,"type":"lookup","id":"1","user":".bob"}`, CodeBadUsername, "1"},
		{"login-missing-sig", `{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `"}`, CodeBadRequest, "1"},
		{"login-short-key", `{"v":1,"type":"login","id":"1","user":"alice","key":"AAAA","sig":"` + testSig + `"}`, CodeBadRequest, "1"},
		{"login-key-not-base64", `{"v":1,"type":"login","id":"1","user":"alice","key":"!!!!","sig":"` + testSig + `"}`, CodeBadRequest, "1"},
		{"login-key-as-array", `{"v":1,"type":"login","id":"1","user":"alice","key":[1,2],"sig":"` + testSig + `"}`, CodeBadRequest, "1"},
		{"login-unpadded-key", `{"v":1,"type":"login","id":"1","user":"alice","key":"` + strings.TrimRight(testKey, "=") + `","sig":"` + testSig + `"}`, CodeBadRequest, "1"},
		{"login-bad-username", `{"v":1,"type":"login","id":"1","user":"a!","key":"` + testKey + `","sig":"` + testSig + `"}`, CodeBadUsername, "1"},
		{"signal-spoofed-from", `{"v":1,"type":"signal","id":"7","from":"carol","to":"bob","call_id":"c1","kind":"offer"}`, CodeBadRequest, "7"},
		{"signal-missing-call-id", `{"v":1,"type":"signal","id":"7","to":"bob","kind":"offer"}`, CodeBadRequest, "7"},
		{"signal-bad-call-id", `{"v":1,"type":"signal","id":"7","to":"bob","call_id":"a/b","kind":"offer"}`, CodeBadRequest, "7"},
		{"signal-unknown-kind", `{"v":1,"type":"signal","id":"7","to":"bob","call_id":"c1","kind":"transfer"}`, CodeBadRequest, "7"},
		{"signal-missing-to", `{"v":1,"type":"signal","id":"7","call_id":"c1","kind":"offer"}`, CodeBadRequest, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := DecodeRequest([]byte(tt.frame))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("DecodeRequest: %v", err)
				}
				if msg == nil {
					t.Fatal("DecodeRequest returned no message")
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("DecodeRequest error = %v (%T), want an *Error with code %s", err, err, tt.wantCode)
			}
			if msg != nil {
				t.Errorf("DecodeRequest returned %T along with an error", msg)
			}
			if e.Code != tt.wantCode || e.ID != tt.wantID {
				t.Errorf("error code %q id %q (%s), want code %q id %q", e.Code, e.ID, e.Message, tt.wantCode, tt.wantID)
			}
			if e.Message == "" {
				t.Error("error has no message")
			}
		})
	}
}

func TestDecodeRequestNormalizesPayload(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"compacts-whitespace", `{ "sdp" : "v=0", "n" : [1, 2] }`, `{"sdp":"v=0","n":[1,2]}`},
		{"null-is-absent", `null`, ``},
		{"keeps-html-characters", `"<a&b>"`, `"<a&b>"`},
		{"scalar", `42`, `42`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := `{"v":1,"type":"signal","id":"1","to":"bob","call_id":"c","kind":"candidate","payload":` + tt.payload + `}`
			msg, err := DecodeRequest([]byte(frame))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(msg.(*Signal).Payload); got != tt.want {
				t.Errorf("payload %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncodeSetsVersionAndType(t *testing.T) {
	frame, err := Encode(&Presence{User: "bob", Status: StatusOnline})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"type":"presence","user":"bob","status":"online"}`
	if string(frame) != want {
		t.Errorf("Encode = %s, want %s", frame, want)
	}
}

func TestDecodeEvent(t *testing.T) {
	nonce := base64.StdEncoding.EncodeToString(make([]byte, NonceSize))
	tests := []struct {
		name    string
		frame   string
		wantErr bool
	}{
		{"hello", `{"v":1,"type":"hello","nonce":"` + nonce + `","max_bytes":65536}`, false},
		{"hello-with-future-field", `{"v":1,"type":"hello","nonce":"` + nonce + `","max_bytes":65536,"ice_servers":[]}`, false},
		{"signal", `{"v":1,"type":"signal","from":"alice","to":"bob","call_id":"c","kind":"offer","payload":{}}`, false},
		{"presence-future-status", `{"v":1,"type":"presence","user":"bob","status":"away"}`, false},
		{"error-without-id", `{"v":1,"type":"error","code":"too-large","message":"x"}`, false},
		{"hello-short-nonce", `{"v":1,"type":"hello","nonce":"AAAA","max_bytes":65536}`, true},
		{"hello-no-limit", `{"v":1,"type":"hello","nonce":"` + nonce + `"}`, true},
		{"signal-without-from", `{"v":1,"type":"signal","to":"bob","call_id":"c","kind":"offer"}`, true},
		{"ok-without-id", `{"v":1,"type":"ok"}`, true},
		{"unknown-type", `{"v":1,"type":"ring"}`, true},
		{"wrong-version", `{"v":2,"type":"ok","id":"1"}`, true},
		{"not-json", `]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.frame))
			if (err != nil) != tt.wantErr {
				t.Errorf("DecodeEvent error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestValidUsername(t *testing.T) {
	tests := []struct {
		name string
		user string
		want bool
	}{
		{"letters", "alice", true},
		{"digits-first", "0day", true},
		{"punctuation-inside", "a.b_c-d", true},
		{"shortest", "abc", true},
		{"longest", strings.Repeat("a", 32), true},
		{"too-short", "ab", false},
		{"too-long", strings.Repeat("a", 33), false},
		{"uppercase", "Alice", false},
		{"leading-dash", "-alice", false},
		{"space", "al ice", false},
		{"unicode", "alicé", false},
		{"trailing-newline", "alice\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidUsername(tt.user); got != tt.want {
				t.Errorf("ValidUsername(%q) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestLoginMessageSeparatesUsersAndNonces(t *testing.T) {
	nonceA := bytes.Repeat([]byte{1}, NonceSize)
	nonceB := bytes.Repeat([]byte{2}, NonceSize)
	a := LoginMessage(nonceA, "alice")
	for _, other := range [][]byte{LoginMessage(nonceB, "alice"), LoginMessage(nonceA, "alice2")} {
		if bytes.Equal(a, other) {
			t.Errorf("login messages collide: %q", a)
		}
	}
	if !bytes.HasPrefix(a, []byte(loginContext)) {
		t.Errorf("login message %q lacks the context prefix", a)
	}
}

// FuzzDecodeMessage feeds the server's decoder arbitrary frames. It must not
// panic, must return either a message or an *Error (never both, never
// neither), and a decoded message must survive Encode and decode again
// unchanged.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `","sig":"` + testSig + `"}`,
		`{"v":1,"type":"lookup","id":"2","user":"bob"}`,
		`{"v":1,"type":"signal","id":"3","to":"bob","call_id":"c1","kind":"offer","payload":{"sdp":"v=0\r\n"}}`,
		`{"v":1,"type":"signal","id":"3","to":"bob","call_id":"c1","kind":"hangup","payload":null}`,
		`{"v":1,"type":"ping","id":"4"}`,
		`{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `","sig":"` + testSig + `","control":true,"calls_from":"anyone","auto_accept":false}`,
		`{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `","sig":"` + testSig + `","device":"laptop.2"}`,
		`{"v":1,"type":"login","id":"1","user":"alice","key":"` + testKey + `","sig":"` + testSig + `","device":"a b"}`,
		`{"v":1,"type":"contact","id":"5","user":"bob","action":"add","message":"hi \u00e9 bob"}`,
		`{"v":1,"type":"contact","id":"5","user":"bob","action":"block","message":"x"}`,
		`{"v":1,"type":"contacts","id":"6"}`,
		`{"v":1,"type":"status","id":"7","status":"invisible","note":"\u0007bell"}`,
		`{"v":1,"type":"ping","id":"4","id":"5"}`,
		`{"v":2,"type":"ping","id":"4"}`,
		`{"v":1,"type":"lookup","id":"2","User":"bob"}`,
		`{"v":1,"type":"ice","id":"8"}`,
		`{"v":1,"type":"relay","id":"9","urls":["stun:203.0.113.9:3478","turn:203.0.113.9:3478?transport=udp"],"secret":"0123456789abcdef","capacity":40,"load":2,"relay_for":"anyone"}`,
		`{"v":1,"type":"relay","id":"9","urls":["http://x"],"secret":"short","capacity":-1,"load":0}`,
		`[]`,
		`{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeRequest(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || msg != nil || e.Code == "" {
				t.Fatalf("DecodeRequest(%q) = %v, %v; want only an *Error with a code", data, msg, err)
			}
			if _, err := Encode(e); err != nil {
				t.Fatalf("cannot encode the error frame: %v", err)
			}
			return
		}
		if msg == nil {
			t.Fatalf("DecodeRequest(%q) returned neither message nor error", data)
		}
		frame, err := Encode(msg)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", msg, err)
		}
		again, err := DecodeRequest(frame)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", frame, err)
		}
		if !reflect.DeepEqual(msg, again) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", msg, again)
		}
	})
}

// FuzzDecodeEvent does the same for the client's decoder of server frames.
func FuzzDecodeEvent(f *testing.F) {
	nonce := base64.StdEncoding.EncodeToString(make([]byte, NonceSize))
	for _, seed := range []string{
		`{"v":1,"type":"hello","nonce":"` + nonce + `","max_bytes":65536}`,
		`{"v":1,"type":"ok","id":"1"}`,
		`{"v":1,"type":"error","id":"1","code":"offline","message":"bob is offline"}`,
		`{"v":1,"type":"lookup-result","id":"2","user":"bob","exists":true,"status":"online"}`,
		`{"v":1,"type":"signal","from":"alice","to":"bob","call_id":"c1","kind":"answer","payload":{"sdp":"x"}}`,
		`{"v":1,"type":"presence","user":"bob","status":"offline"}`,
		`{"v":1,"type":"pong","id":"3"}`,
		`{"v":1,"type":"presence","user":"bob","status":"away","note":"lunch"}`,
		`{"v":1,"type":"contact","user":"bob","state":"incoming","message":"hi"}`,
		`{"v":1,"type":"contacts-result","id":"6","contacts":[{"user":"bob","state":"accepted","status":"busy","last_seen":"2026-01-02T03:04:05Z"}]}`,
		`{"v":1,"type":"ice-result","id":"8","servers":[{"urls":["stun:203.0.113.9:3478","turn:203.0.113.9:3478?transport=udp"],"username":"1764500000:alice","credential":"c2VjcmV0"}],"ttl_s":43200}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeEvent(data)
		if err != nil {
			if msg != nil {
				t.Fatalf("DecodeEvent(%q) returned a message with error %v", data, err)
			}
			return
		}
		frame, err := Encode(msg)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", msg, err)
		}
		again, err := DecodeEvent(frame)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", frame, err)
		}
		if !reflect.DeepEqual(msg, again) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", msg, again)
		}
	})
}
