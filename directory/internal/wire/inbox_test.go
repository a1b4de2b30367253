package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeChatRequests(t *testing.T) {
	long := strings.Repeat("é", MaxChatRunes)
	tests := []struct {
		name     string
		frame    string
		wantCode string // "" means the frame decodes
	}{
		{"chat", `{"v":1,"type":"chat","id":"1","to":"bob","text":"hi bob\nsee you at 3\t:)"}`, ""},
		{"chat-longest", `{"v":1,"type":"chat","id":"1","to":"bob","text":"` + long + `"}`, ""},
		{"inbox", `{"v":1,"type":"inbox","id":"2"}`, ""},
		{"inbox-ack", `{"v":1,"type":"inbox-ack","id":"3","msg_ids":["a1","B_2-c"]}`, ""},

		{"chat-too-long", `{"v":1,"type":"chat","id":"1","to":"bob","text":"` + long + `x"}`, CodeBadRequest},
		{"chat-empty", `{"v":1,"type":"chat","id":"1","to":"bob","text":""}`, CodeBadRequest},
		{"chat-control-character", `{"v":1,"type":"chat","id":"1","to":"bob","text":"ring\u0007"}`, CodeBadRequest},
		{"chat-bad-recipient", `{"v":1,"type":"chat","id":"1","to":"Bob","text":"hi"}`, CodeBadUsername},
		{"chat-no-recipient", `{"v":1,"type":"chat","id":"1","text":"hi"}`, CodeBadRequest},
		{"chat-sets-from", `{"v":1,"type":"chat","id":"1","to":"bob","from":"eve","text":"hi"}`, CodeBadRequest},
		{"chat-sets-msg-id", `{"v":1,"type":"chat","id":"1","to":"bob","msg_id":"x","text":"hi"}`, CodeBadRequest},
		{"inbox-with-field", `{"v":1,"type":"inbox","id":"2","user":"bob"}`, CodeBadRequest},
		{"inbox-ack-empty", `{"v":1,"type":"inbox-ack","id":"3","msg_ids":[]}`, CodeBadRequest},
		{"inbox-ack-bad-id", `{"v":1,"type":"inbox-ack","id":"3","msg_ids":["a.b"]}`, CodeBadRequest},
		{"inbox-ack-not-strings", `{"v":1,"type":"inbox-ack","id":"3","msg_ids":[1]}`, CodeBadRequest},
		{"inbox-ack-too-many", `{"v":1,"type":"inbox-ack","id":"3","msg_ids":["` + strings.Repeat(`a","`, MaxInboxAck) + `a"]}`, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := DecodeRequest([]byte(tt.frame))
			var e *Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("DecodeRequest: %v", err)
			case tt.wantCode == "":
				if _, err := Encode(msg); err != nil {
					t.Errorf("Encode: %v", err)
				}
			case !errors.As(err, &e) || e.Code != tt.wantCode:
				t.Fatalf("DecodeRequest: %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestDecodeChatEvents(t *testing.T) {
	msg := `{"from":"alice","to":"bob","msg_id":"m1","text":"hi","sent":"2026-11-30T08:00:00.123Z"}`
	tests := []struct {
		name  string
		frame string
		ok    bool
	}{
		{"push", `{"v":1,"type":"chat",` + msg[1:], true},
		{"inbox-result", `{"v":1,"type":"inbox-result","id":"2","messages":[` + msg + `]}`, true},
		{"inbox-result-empty", `{"v":1,"type":"inbox-result","id":"2","messages":[]}`, true},
		{"push-without-msg-id", `{"v":1,"type":"chat","from":"alice","to":"bob","text":"hi","sent":"2026-11-30T08:00:00Z"}`, false},
		{"push-bad-time", `{"v":1,"type":"chat","from":"alice","to":"bob","msg_id":"m1","text":"hi","sent":"yesterday"}`, false},
		{"inbox-result-without-id", `{"v":1,"type":"inbox-result","messages":[]}`, false},
		{"inbox-result-bad-message", `{"v":1,"type":"inbox-result","id":"2","messages":[{"from":"alice"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.frame))
			if (err == nil) != tt.ok {
				t.Errorf("DecodeEvent: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
