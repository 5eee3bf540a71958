// A stand-in for Element's MatrixRTC authorization service, lk-jwt-service v0.5.0, whose
// binary cannot be downloaded here. It is written from that release's observed behaviour (not
// from its code, and not from its README where the two differ), so the tests can install it on
// the droplet exactly where, and as, the payload installs the real one: the same environment,
// port, routes and answers.
//
// Routes (nothing else: any other path gets Go's plain-text "404 page not found"):
//
//   - /sfu/get and /get_token: POST exchanges a Matrix OpenID token for a LiveKit token, answered
//     200 {"url": LIVEKIT_URL, "jwt": ...}; OPTIONS → 200, empty; other methods → 405, empty.
//     Every answer is application/json with CORS headers; errors are {errcode, error}.
//   - /healthz: GET or HEAD → 200, empty; other methods → 405.
//
// /sfu/get takes the legacy body {room, openid_token, device_id} or the /get_token body. It
// tries a strict decode (no unknown fields) as legacy first, then as the new shape; neither →
// 400 M_BAD_JSON. Legacy requests need only room and the OpenID token; a token the user's
// homeserver does not confirm → 500 M_LOOKUP_FAILED. The room is named from [room,
// "m.call#ROOM"], the member "<user>:<device_id>".
//
// /get_token takes {room_id, slot_id, openid_token, member: {id, claimed_user_id,
// claimed_device_id}} and optional delay_id, delay_timeout, delay_cs_api_url (accepted,
// ignored). A body that does not decode strictly → 400 M_NOT_JSON; a missing field → 400
// M_BAD_JSON (room_id and slot_id first, then member, then the OpenID token); a token not
// confirmed, or a claimed user that is not the token's → 401 M_UNAUTHORIZED. The room is named
// from [room_id, slot_id], the member from [user, claimed_device_id, member id].
//
// The user's homeserver is found as federation finds servers (.well-known/matrix/server, SRV
// _matrix-fed._tcp then _matrix._tcp, else port 8448), over TLS verified against the system's
// roots (SSL_CERT_FILE applies) unless LIVEKIT_INSECURE_SKIP_VERIFY_TLS is
// YES_I_KNOW_WHAT_I_AM_DOING. Users of LIVEKIT_FULL_ACCESS_HOMESERVERS (comma- or
// space-separated; "*" alone for everyone) also get the room made at the SFU; others get a
// token for a room that may not exist.
//
// Environment: LIVEKIT_URL; LIVEKIT_KEY or LIVEKIT_KEY_FROM_FILE, LIVEKIT_SECRET or
// LIVEKIT_SECRET_FROM_FILE, or LIVEKIT_KEY_FILE ("key:secret", first); LIVEKIT_JWT_BIND (default
// ":8080"), or the deprecated LIVEKIT_JWT_PORT (not both); LIVEKIT_FULL_ACCESS_HOMESERVERS
// (required); LIVEKIT_INSECURE_SKIP_VERIFY_TLS.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// matrixError is an answer of the form {errcode, error}.
type matrixError struct {
	status  int
	errcode string
	message string
}

func (e *matrixError) Error() string { return e.errcode + ": " + e.message }

var (
	errNotJSON      = &matrixError{http.StatusBadRequest, "M_NOT_JSON", "Error reading request"}
	errMalformed    = &matrixError{http.StatusBadRequest, "M_BAD_JSON", "The request body was malformed"}
	errMissingRoom  = &matrixError{http.StatusBadRequest, "M_BAD_JSON", "Missing room parameter"}
	errMissingSlot  = &matrixError{http.StatusBadRequest, "M_BAD_JSON", "Missing room_id or slot_id parameter"}
	errMissingMem   = &matrixError{http.StatusBadRequest, "M_BAD_JSON", "Missing member parameters"}
	errMissingToken = &matrixError{http.StatusBadRequest, "M_BAD_JSON", "Missing OpenID token parameters"}
	errLookupFailed = &matrixError{http.StatusInternalServerError, "M_LOOKUP_FAILED", "Failed to look up user info from homeserver"}
	errUnauthorized = &matrixError{http.StatusUnauthorized, "M_UNAUTHORIZED", "The request could not be authorised."}
	errNotClaimed   = &matrixError{http.StatusUnauthorized, "M_UNAUTHORIZED", "The claimed user is not the OpenID token's user"}
	errNoRoom       = &matrixError{http.StatusInternalServerError, "M_UNKNOWN", "Unable to create room on SFU"}
)

type openIDToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	MatrixServerName string `json:"matrix_server_name"`
	ExpiresIn        int    `json:"expires_in"`
}

func (t openIDToken) missing() bool { return t.AccessToken == "" || t.MatrixServerName == "" }

// legacyRequest is /sfu/get's own body.
type legacyRequest struct {
	Room        string      `json:"room"`
	OpenIDToken openIDToken `json:"openid_token"`
	DeviceID    string      `json:"device_id"`
}

type member struct {
	ID              string `json:"id"`
	ClaimedUserID   string `json:"claimed_user_id"`
	ClaimedDeviceID string `json:"claimed_device_id"`
}

// tokenRequest is /get_token's body (also taken at /sfu/get).
type tokenRequest struct {
	RoomID        string      `json:"room_id"`
	SlotID        string      `json:"slot_id"`
	OpenIDToken   openIDToken `json:"openid_token"`
	Member        member      `json:"member"`
	DelayID       string      `json:"delay_id"`
	DelayTimeout  int         `json:"delay_timeout"`
	DelayCSAPIURL string      `json:"delay_cs_api_url"`
}

type answer struct {
	URL string `json:"url"`
	JWT string `json:"jwt"`
}

// strictly decodes the first JSON value of data into v, refusing fields v does not have.
func strictly(data io.Reader, v any) error {
	decoder := json.NewDecoder(data)
	decoder.DisallowUnknownFields()
	return decoder.Decode(v)
}

// hashName is the unpadded standard base64 of SHA-256 over the JSON array of parts.
func hashName(parts ...string) string {
	data, _ := json.Marshal(parts)
	sum := sha256.Sum256(data)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// config is what the environment sets.
type config struct {
	livekitURL  string
	key, secret string
	bind        string
	fullAccess  []string
	everyone    bool
	skipVerify  bool
}

func trimmed(s string) string { return strings.Trim(s, " \r\n") }

// secretSetting is NAME, or the contents of the file NAME_FROM_FILE names.
func secretSetting(getenv func(string) string, name string) (string, error) {
	if file := getenv(name + "_FROM_FILE"); file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_FROM_FILE: %w", name, err)
		}
		return trimmed(string(data)), nil
	}
	return trimmed(getenv(name)), nil
}

func readConfig(getenv func(string) string) (*config, error) {
	c := &config{livekitURL: getenv("LIVEKIT_URL")}
	if c.livekitURL == "" {
		return nil, errors.New("LIVEKIT_URL must be set")
	}
	if file := getenv("LIVEKIT_KEY_FILE"); file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("LIVEKIT_KEY_FILE: %w", err)
		}
		parts := strings.Split(trimmed(string(data)), ":")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, errors.New("LIVEKIT_KEY_FILE must hold key:secret")
		}
		c.key, c.secret = parts[0], parts[1]
	} else {
		var err error
		if c.key, err = secretSetting(getenv, "LIVEKIT_KEY"); err != nil {
			return nil, err
		}
		if c.secret, err = secretSetting(getenv, "LIVEKIT_SECRET"); err != nil {
			return nil, err
		}
	}
	if c.key == "" || c.secret == "" {
		return nil, errors.New("LIVEKIT_KEY and LIVEKIT_SECRET (or their _FROM_FILE forms, or LIVEKIT_KEY_FILE) must be set")
	}
	bind, port := getenv("LIVEKIT_JWT_BIND"), getenv("LIVEKIT_JWT_PORT")
	switch {
	case bind != "" && port != "":
		return nil, errors.New("LIVEKIT_JWT_BIND and LIVEKIT_JWT_PORT are both set: set LIVEKIT_JWT_BIND only")
	case port != "":
		log.Printf("LIVEKIT_JWT_PORT is deprecated: use LIVEKIT_JWT_BIND")
		c.bind = ":" + port
	case bind != "":
		c.bind = bind
	default:
		c.bind = ":8080"
	}
	servers := getenv("LIVEKIT_FULL_ACCESS_HOMESERVERS")
	if servers == "" {
		return nil, errors.New("LIVEKIT_FULL_ACCESS_HOMESERVERS must be set")
	}
	c.fullAccess = strings.FieldsFunc(servers, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	// "*" stands for every server only on its own.
	c.everyone = len(c.fullAccess) == 1 && c.fullAccess[0] == "*"
	c.skipVerify = getenv("LIVEKIT_INSECURE_SKIP_VERIFY_TLS") == "YES_I_KNOW_WHAT_I_AM_DOING"
	return c, nil
}

// federation finds a Matrix server as other servers do and asks it about OpenID tokens.
type federation struct {
	tls     *tls.Config
	timeout time.Duration
	// lookupSRV and wellKnown are replaceable for tests.
	lookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	wellKnown func(ctx context.Context, host string) (string, bool)
}

// endpoint is one place a server's federation API may answer.
type endpoint struct {
	dial    string // host:port to connect to
	host    string // the Host header
	tlsName string // the name its certificate must be for
}

// splitServerName splits host[:port], host being a DNS name, an IPv4 address or [IPv6].
func splitServerName(name string) (host, port string, err error) {
	rest := name
	if strings.HasPrefix(name, "[") {
		end := strings.Index(name, "]")
		if end < 0 {
			return "", "", fmt.Errorf("server name %q: unclosed [", name)
		}
		host, rest = name[1:end], name[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", "", fmt.Errorf("server name %q: not an IPv6 address in brackets", name)
		}
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("server name %q: junk after ]", name)
		}
		port = strings.TrimPrefix(rest, ":")
		if rest == ":" {
			return "", "", fmt.Errorf("server name %q: empty port", name)
		}
	} else {
		host = name
		if i := strings.LastIndex(name, ":"); i >= 0 {
			host, port = name[:i], name[i+1:]
			if port == "" {
				return "", "", fmt.Errorf("server name %q: empty port", name)
			}
		}
		if host == "" || strings.ContainsAny(host, ":[]/ ") {
			return "", "", fmt.Errorf("server name %q: bad host", name)
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return "", "", fmt.Errorf("server name %q: bad port", name)
		}
	}
	return host, port, nil
}

// endpoints are where serverName's federation API answers, most preferred first.
func (f *federation) endpoints(ctx context.Context, serverName string) ([]endpoint, error) {
	host, port, err := splitServerName(serverName)
	if err != nil {
		return nil, err
	}
	// An IP address, or an explicit port: that, as it is.
	if net.ParseIP(host) != nil || port != "" {
		if port == "" {
			port = "8448"
		}
		return []endpoint{{net.JoinHostPort(host, port), serverName, host}}, nil
	}
	if delegated, ok := f.wellKnown(ctx, host); ok {
		if dhost, dport, err := splitServerName(delegated); err == nil {
			if net.ParseIP(dhost) != nil || dport != "" {
				if dport == "" {
					dport = "8448"
				}
				return []endpoint{{net.JoinHostPort(dhost, dport), delegated, dhost}}, nil
			}
			// A delegated name without a port is looked up again: SRV, else 8448 (not 443).
			return f.srvElse8448(ctx, dhost), nil
		}
		log.Printf("%s: .well-known/matrix/server names %q, not a server name", host, delegated)
	}
	return f.srvElse8448(ctx, host), nil
}

func (f *federation) srvElse8448(ctx context.Context, host string) []endpoint {
	for _, service := range []string{"matrix-fed", "matrix"} {
		_, records, err := f.lookupSRV(ctx, service, "tcp", host)
		if err != nil {
			continue
		}
		var out []endpoint
		for _, r := range records {
			if target := strings.TrimSuffix(r.Target, "."); target != "" {
				out = append(out, endpoint{net.JoinHostPort(target, strconv.Itoa(int(r.Port))), host, host})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []endpoint{{net.JoinHostPort(host, "8448"), host, host}}
}

// fetchWellKnown is m.server of https://host/.well-known/matrix/server, if it has one.
func (f *federation) fetchWellKnown(ctx context.Context, host string) (string, bool) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: f.tls.Clone(), ForceAttemptHTTP2: true}, Timeout: f.timeout}
	defer client.CloseIdleConnections()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/matrix/server", nil)
	if err != nil {
		return "", false
	}
	reply, err := client.Do(request)
	if err != nil {
		log.Printf("%s: no .well-known/matrix/server: %v", host, err)
		return "", false
	}
	defer reply.Body.Close()
	var body struct {
		Server string `json:"m.server"`
	}
	if reply.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(reply.Body, 1<<16)).Decode(&body) != nil || body.Server == "" {
		log.Printf("%s: no usable .well-known/matrix/server (%s)", host, reply.Status)
		return "", false
	}
	return body.Server, true
}

// get fetches pathAndQuery from e.
func (f *federation) get(ctx context.Context, e endpoint, pathAndQuery string) (*http.Response, func(), error) {
	dialer := &net.Dialer{Timeout: f.timeout}
	config := f.tls.Clone()
	config.ServerName = e.tlsName
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, e.dial)
		},
		TLSClientConfig:   config,
		ForceAttemptHTTP2: true,
	}
	client := &http.Client{Transport: transport, Timeout: f.timeout}
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+e.dial+pathAndQuery, nil)
	if err != nil {
		return nil, nil, err
	}
	request.Host = e.host
	reply, err := client.Do(request)
	if err != nil {
		transport.CloseIdleConnections()
		return nil, nil, err
	}
	return reply, func() { reply.Body.Close(); transport.CloseIdleConnections() }, nil
}

// userOf is the user serverName says accessToken is an OpenID token of.
func (f *federation) userOf(ctx context.Context, serverName, accessToken string) (string, error) {
	endpoints, err := f.endpoints(ctx, serverName)
	if err != nil {
		return "", err
	}
	query := "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(accessToken)
	var reached error
	for _, e := range endpoints {
		reply, done, err := f.get(ctx, e, query)
		if err != nil {
			reached = fmt.Errorf("%s (Host %s): %w", e.dial, e.host, err)
			continue
		}
		defer done()
		if reply.StatusCode < 200 || reply.StatusCode > 299 {
			return "", fmt.Errorf("%s answered %s", e.dial, reply.Status)
		}
		var info struct {
			Sub string `json:"sub"`
		}
		if err := json.NewDecoder(io.LimitReader(reply.Body, 1<<16)).Decode(&info); err != nil {
			return "", fmt.Errorf("%s: %w", e.dial, err)
		}
		if _, server, ok := strings.Cut(info.Sub, ":"); !ok || server != serverName {
			return "", fmt.Errorf("%s vouched for %q, not one of its users", serverName, info.Sub)
		}
		return info.Sub, nil
	}
	return "", reached
}

type service struct {
	*config
	livekitAPI  string
	homeservers *federation
	sfu         *http.Client
}

// token is a LiveKit access token (HS256) for identity with the given video grant.
func (s *service) token(identity string, video map[string]any, valid time.Duration) string {
	now := time.Now().Unix()
	part := func(v any) string {
		data, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	claims := map[string]any{"iss": s.key, "nbf": now, "exp": now + int64(valid.Seconds()), "video": video}
	if identity != "" {
		claims["sub"], claims["identity"] = identity, identity
	}
	unsigned := part(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *service) fullAccessFor(server string) bool {
	return s.everyone || slices.Contains(s.fullAccess, server)
}

// createRoom makes room at the SFU (LiveKit's RoomService.CreateRoom; an existing room stays).
func (s *service) createRoom(ctx context.Context, room string) error {
	body, _ := json.Marshal(map[string]any{"name": room, "empty_timeout": 300, "departure_timeout": 20})
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, s.livekitAPI+"/twirp/livekit.RoomService/CreateRoom", bytes.NewReader(body))
	if err != nil {
		return err
	}
	request.Header.Set("Authorization", "Bearer "+s.token("", map[string]any{"roomCreate": true}, 10*time.Minute))
	request.Header.Set("Content-Type", "application/json")
	reply, err := s.sfu.Do(request)
	if err != nil {
		return err
	}
	defer reply.Body.Close()
	if reply.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(reply.Body, 1024))
		return fmt.Errorf("%s: %s", reply.Status, text)
	}
	return nil
}

// grant is the answer for identity in room; users of full-access servers get the room made first.
func (s *service) grant(ctx context.Context, server, room, identity string) (*answer, error) {
	if s.fullAccessFor(server) {
		if err := s.createRoom(ctx, room); err != nil {
			log.Printf("creating room %s: %v", room, err)
			return nil, errNoRoom
		}
	}
	jwt := s.token(identity, map[string]any{"room": room, "roomJoin": true, "canPublish": true, "canSubscribe": true}, time.Hour)
	return &answer{URL: s.livekitURL, JWT: jwt}, nil
}

func (s *service) legacy(ctx context.Context, request legacyRequest) (*answer, error) {
	if request.Room == "" {
		return nil, errMissingRoom
	}
	if request.OpenIDToken.missing() {
		return nil, errMissingToken
	}
	server := request.OpenIDToken.MatrixServerName
	user, err := s.homeservers.userOf(ctx, server, request.OpenIDToken.AccessToken)
	if err != nil {
		log.Printf("OpenID token for %s not confirmed: %v", server, err)
		return nil, errLookupFailed
	}
	return s.grant(ctx, server, hashName(request.Room, "m.call#ROOM"), user+":"+request.DeviceID)
}

func (s *service) member(ctx context.Context, request tokenRequest) (*answer, error) {
	if request.RoomID == "" || request.SlotID == "" {
		return nil, errMissingSlot
	}
	if m := request.Member; m.ID == "" || m.ClaimedUserID == "" || m.ClaimedDeviceID == "" {
		return nil, errMissingMem
	}
	if request.OpenIDToken.missing() {
		return nil, errMissingToken
	}
	server := request.OpenIDToken.MatrixServerName
	user, err := s.homeservers.userOf(ctx, server, request.OpenIDToken.AccessToken)
	if err != nil {
		log.Printf("OpenID token for %s not confirmed: %v", server, err)
		return nil, errUnauthorized
	}
	if request.Member.ClaimedUserID != user {
		log.Printf("%s claimed to be %s", user, request.Member.ClaimedUserID)
		return nil, errNotClaimed
	}
	return s.grant(ctx, server, hashName(request.RoomID, request.SlotID), hashName(user, request.Member.ClaimedDeviceID, request.Member.ID))
}

// sfuGet takes either body: legacy first, then /get_token's.
func (s *service) sfuGet(r *http.Request) (*answer, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errNotJSON
	}
	var legacy legacyRequest
	if strictly(bytes.NewReader(body), &legacy) == nil {
		return s.legacy(r.Context(), legacy)
	}
	var request tokenRequest
	if strictly(bytes.NewReader(body), &request) == nil {
		return s.member(r.Context(), request)
	}
	return nil, errMalformed
}

func (s *service) getToken(r *http.Request) (*answer, error) {
	var request tokenRequest
	if strictly(r.Body, &request) != nil {
		return nil, errNotJSON
	}
	return s.member(r.Context(), request)
}

// exchange serves one of the token routes.
func exchange(handle func(*http.Request) (*answer, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token")
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusOK)
			return
		case http.MethodPost:
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		reply, err := handle(r)
		if err != nil {
			refused := &matrixError{http.StatusInternalServerError, "M_UNKNOWN", "Internal Server Error"}
			errors.As(err, &refused)
			w.WriteHeader(refused.status)
			_ = json.NewEncoder(w).Encode(map[string]string{"errcode": refused.errcode, "error": refused.message})
			return
		}
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(reply)
	}
}

func healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func main() {
	c, err := readConfig(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	homeservers := &federation{tls: &tls.Config{MinVersion: tls.VersionTLS12}, timeout: 10 * time.Second, lookupSRV: net.DefaultResolver.LookupSRV}
	if c.skipVerify {
		log.Printf("LIVEKIT_INSECURE_SKIP_VERIFY_TLS: homeservers' certificates are not verified")
		homeservers.tls.InsecureSkipVerify = true
	}
	homeservers.wellKnown = homeservers.fetchWellKnown
	s := &service{
		config: c,
		// The SFU's server API is where its signalling is, over HTTP(S).
		livekitAPI:  strings.TrimSuffix(strings.Replace(strings.Replace(c.livekitURL, "wss://", "https://", 1), "ws://", "http://", 1), "/"),
		homeservers: homeservers,
		sfu:         &http.Client{Timeout: 10 * time.Second},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/sfu/get", exchange(s.sfuGet))
	mux.HandleFunc("/get_token", exchange(s.getToken))
	mux.HandleFunc("/healthz", healthz)
	log.Printf("listening on %s for %s (full access: %s)", c.bind, c.livekitURL, strings.Join(c.fullAccess, ", "))
	server := &http.Server{Addr: c.bind, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(server.ListenAndServe())
}
