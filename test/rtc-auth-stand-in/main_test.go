package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The ways of finding a server the services test cannot show (it has no SRV records).
func TestEndpoints(t *testing.T) {
	srv := map[string][]*net.SRV{
		"_matrix-fed._tcp.fed.test":       {{Target: "a.fed.test.", Port: 443}, {Target: "b.fed.test.", Port: 8443}},
		"_matrix._tcp.old.test":           {{Target: "old-target.test.", Port: 1234}},
		"_matrix-fed._tcp.delegated.test": {{Target: "media.test.", Port: 9000}},
	}
	wellKnown := map[string]string{
		"with-port.test": "matrix.with-port.test:443",
		"no-port.test":   "plain.test",
		"srv.test":       "delegated.test",
		"ip.test":        "192.0.2.7",
		"bad.test":       "no:good:at:all",
	}
	f := &federation{
		lookupSRV: func(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
			if records, ok := srv["_"+service+"._"+proto+"."+name]; ok {
				return "", records, nil
			}
			return "", nil, errors.New("no such host")
		},
		wellKnown: func(_ context.Context, host string) (string, bool) {
			server, ok := wellKnown[host]
			return server, ok
		},
	}
	for name, want := range map[string][]endpoint{
		"example.test:8448":     {{"example.test:8448", "example.test:8448", "example.test"}},
		"192.0.2.1":             {{"192.0.2.1:8448", "192.0.2.1", "192.0.2.1"}},
		"[2001:db8::1]:8000":    {{"[2001:db8::1]:8000", "[2001:db8::1]:8000", "2001:db8::1"}},
		"with-port.test":        {{"matrix.with-port.test:443", "matrix.with-port.test:443", "matrix.with-port.test"}},
		"no-port.test":          {{"plain.test:8448", "plain.test", "plain.test"}},
		"srv.test":              {{"media.test:9000", "delegated.test", "delegated.test"}},
		"ip.test":               {{"192.0.2.7:8448", "192.0.2.7", "192.0.2.7"}},
		"fed.test":              {{"a.fed.test:443", "fed.test", "fed.test"}, {"b.fed.test:8443", "fed.test", "fed.test"}},
		"old.test":              {{"old-target.test:1234", "old.test", "old.test"}},
		"bad.test":              {{"bad.test:8448", "bad.test", "bad.test"}},
		"nothing-at-all.test":   {{"nothing-at-all.test:8448", "nothing-at-all.test", "nothing-at-all.test"}},
		"with-port.test:8448":   {{"with-port.test:8448", "with-port.test:8448", "with-port.test"}},
		"[2001:db8::2]":         {{"[2001:db8::2]:8448", "[2001:db8::2]", "2001:db8::2"}},
		"localhost:1":           {{"localhost:1", "localhost:1", "localhost"}},
		"delegated.test":        {{"media.test:9000", "delegated.test", "delegated.test"}},
		"sub.domain.test:65535": {{"sub.domain.test:65535", "sub.domain.test:65535", "sub.domain.test"}},
	} {
		got, err := f.endpoints(context.Background(), name)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v (%v), want %v", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "::1", "a:b:c", "host:", "host:0", "host:65536", "host:+1", "[192.0.2.1]", "[::1", "[::1]x", "bad/name"} {
		if got, err := f.endpoints(context.Background(), bad); err == nil {
			t.Errorf("%q: got %v, want an error", bad, got)
		}
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	base := map[string]string{"LIVEKIT_URL": "ws://sfu", "LIVEKIT_KEY": "k", "LIVEKIT_SECRET": "s", "LIVEKIT_FULL_ACCESS_HOMESERVERS": "a.test"}
	with := func(changes map[string]string) func(string) string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range changes {
			env[k] = v
		}
		return func(name string) string { return env[name] }
	}
	for what, changes := range map[string]map[string]string{
		"no LIVEKIT_URL":                  {"LIVEKIT_URL": ""},
		"no key":                          {"LIVEKIT_KEY": ""},
		"no secret":                       {"LIVEKIT_SECRET": " \r\n"},
		"no full-access servers":          {"LIVEKIT_FULL_ACCESS_HOMESERVERS": ""},
		"bind and port":                   {"LIVEKIT_JWT_BIND": ":1", "LIVEKIT_JWT_PORT": "2"},
		"a key file of one part":          {"LIVEKIT_KEY_FILE": write("one", "key\n")},
		"a key file of three parts":       {"LIVEKIT_KEY_FILE": write("three", "a:b:c\n")},
		"a key file that is not there":    {"LIVEKIT_KEY_FILE": filepath.Join(dir, "absent")},
		"a secret file that is not there": {"LIVEKIT_SECRET_FROM_FILE": filepath.Join(dir, "absent")},
	} {
		if _, err := readConfig(with(changes)); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	c, err := readConfig(with(map[string]string{"LIVEKIT_KEY_FILE": write("pair", " kf:sf\r\n"), "LIVEKIT_SECRET_FROM_FILE": write("secret", "other")}))
	if err != nil || c.key != "kf" || c.secret != "sf" || c.bind != ":8080" {
		t.Errorf("the key file first: %+v %v", c, err)
	}
	c, err = readConfig(with(map[string]string{"LIVEKIT_SECRET_FROM_FILE": write("secret2", " from file \n"), "LIVEKIT_KEY": " k2\t\r\n", "LIVEKIT_JWT_PORT": "9000"}))
	if err != nil || c.key != "k2\t" || c.secret != "from file" || c.bind != ":9000" {
		t.Errorf("a file over the value, trimmed of spaces, CR and LF only: %+v %v", c, err)
	}
	for servers, want := range map[string]struct {
		everyone bool
		list     []string
	}{
		"*":               {true, []string{"*"}},
		"*,a.test":        {false, []string{"*", "a.test"}},
		",":               {false, []string{}},
		"a.test b.test,,": {false, []string{"a.test", "b.test"}},
	} {
		c, err := readConfig(with(map[string]string{"LIVEKIT_FULL_ACCESS_HOMESERVERS": servers, "LIVEKIT_INSECURE_SKIP_VERIFY_TLS": "yes"}))
		if err != nil || c.everyone != want.everyone || !reflect.DeepEqual(append([]string{}, c.fullAccess...), want.list) || c.skipVerify {
			t.Errorf("%q: %+v %v", servers, c, err)
		}
	}
	if c, _ := readConfig(with(map[string]string{"LIVEKIT_INSECURE_SKIP_VERIFY_TLS": "YES_I_KNOW_WHAT_I_AM_DOING"})); !c.skipVerify {
		t.Error("LIVEKIT_INSECURE_SKIP_VERIFY_TLS not taken")
	}
}
