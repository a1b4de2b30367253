package call

import (
	"strings"
	"sync"
	"testing"
)

// chatLog keeps a phone's chat events.
type chatLog struct {
	mu   sync.Mutex
	msgs []string // "event peer: text"
}

func (l *chatLog) add(ev Event) {
	if ev.Event != EventChat && ev.Event != EventChatSent {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, ev.Event+" "+ev.Peer+": "+ev.Message)
}

func (l *chatLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, " | ")
}

// TestChatDuringACall: messages go both ways over the call's DataChannel,
// in order, and the directory carries none of them.
func TestChatDuringACall(t *testing.T) {
	url := startDirectory(t)
	var aliceChats, bobChats chatLog
	alice := newPhone(t, url, "alice", PhoneConfig{OnEvent: aliceChats.add})
	bob := newPhone(t, url, "bob", PhoneConfig{OnEvent: bobChats.add})
	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	if err := in.Chat("too early"); err != ErrNoChat {
		t.Errorf("chat before the call connects: %v, want ErrNoChat", err)
	}
	in.Answer()
	active(t, out)
	active(t, in)

	// The channel opens with SCTP, a moment after media.
	eventually(t, "alice's chat channel opens", func() bool { return out.Chat("hello bob") == nil })
	eventually(t, "bob gets alice's first", func() bool { return strings.Count(bobChats.String(), "chat alice:") == 1 })
	if err := in.Do("chat hi alice, line one\nline two"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice gets bob's", func() bool { return strings.Contains(aliceChats.String(), "chat bob:") })
	if err := out.Do("  chat   bye  "); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "bell \a", strings.Repeat("x", 2001)} {
		if err := out.Chat(bad); err == nil {
			t.Errorf("Chat(%.20q) sent", bad)
		}
	}
	eventually(t, "bob gets alice's second", func() bool { return strings.Count(bobChats.String(), "chat alice:") == 2 })
	if want := "chat alice: hello bob | chat-sent alice: hi alice, line one\nline two | chat alice: bye"; bobChats.String() != want {
		t.Errorf("bob's chat: %q\nwant %q", bobChats.String(), want)
	}
	if want := "chat-sent bob: hello bob | chat bob: hi alice, line one\nline two | chat-sent bob: bye"; aliceChats.String() != want {
		t.Errorf("alice's chat: %q\nwant %q", aliceChats.String(), want)
	}
	out.Hangup()
	result(t, out)
	result(t, in)
	if err := out.Chat("after"); err != ErrNoChat {
		t.Errorf("chat after the call: %v, want ErrNoChat", err)
	}
}

func TestDecodeChat(t *testing.T) {
	tests := []struct {
		name, data, want string
		ok               bool
	}{
		{name: "text", data: `{"text":"hi\tthere\nbob"}`, want: "hi\tthere\nbob", ok: true},
		{name: "unknown-fields-ignored", data: `{"text":"hi","mood":"happy"}`, want: "hi", ok: true},
		{name: "empty", data: `{"text":""}`},
		{name: "control-character", data: `{"text":"\u001b[2J"}`},
		{name: "not-json", data: `hi`},
		{name: "not-an-object", data: `["hi"]`},
		{name: "too-long", data: `{"text":"` + strings.Repeat("x", maxChatMessage) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeChat([]byte(tt.data))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("decodeChat = %q, %v; want %q, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, seed := range []string{`{"text":"hi"}`, `{"text":"a\nb"}`, `{"text":""}`, `{}`, `null`, `{"text":1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := decodeChat(data)
		if err != nil {
			if text != "" {
				t.Fatalf("decodeChat(%q) = %q with error %v", data, text, err)
			}
			return
		}
		if text == "" || len(text) > len(data) {
			t.Fatalf("decodeChat(%q) = %q", data, text)
		}
	})
}
