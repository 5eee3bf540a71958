// A stand-in for Element's MatrixRTC authorization service (lk-jwt-service), which no registry
// here serves. Written from its documented contract (its README), not from its code, so the
// tests can install it on the droplet exactly where, and as, the payload installs the real one:
// the same environment, port and routes.
//
//   - POST /sfu/get {room, openid_token, device_id} and POST /get_token {room_id, slot_id,
//     openid_token, member: {id, claimed_user_id, claimed_device_id}} answer {url, jwt}: a
//     LiveKit token for the call's room, once the user's homeserver confirms the OpenID token
//     (GET /_matrix/federation/v1/openid/userinfo) and the user belongs to that server;
//   - users of LIVEKIT_FULL_ACCESS_HOMESERVERS also get the room made at the SFU (others may
//     only join a call that exists);
//   - GET or HEAD /healthz → 200; OPTIONS → 200 with CORS; other methods → 405;
//   - errors are {errcode, error}: 400 M_NOT_JSON (unreadable, or an unknown field), 400
//     M_BAD_JSON (a field missing), 401 M_UNAUTHORIZED (token not confirmed), 500 M_UNKNOWN
//     (the SFU refused to make the room).
//
// Environment, as the service reads it: LIVEKIT_URL, LIVEKIT_KEY or LIVEKIT_KEY_FROM_FILE,
// LIVEKIT_SECRET or LIVEKIT_SECRET_FROM_FILE, LIVEKIT_JWT_BIND (default :8080),
// LIVEKIT_FULL_ACCESS_HOMESERVERS (comma-separated, "*" for all). A homeserver is found the
// way servers find each other, simplified: its /.well-known/matrix/server, else port 8448.
// STAND_IN_FEDERATION_OVERRIDES (server=base URL, comma-separated) points a server name
// elsewhere, for tests whose homeserver is on loopback.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

type refusal struct {
	status  int
	errcode string
	message string
}

func (r *refusal) Error() string { return r.message }

var unauthorized = &refusal{http.StatusUnauthorized, "M_UNAUTHORIZED", "The request could not be authorised."}

type config struct {
	livekitURL  string
	livekitAPI  string
	key, secret string
	fullAccess  []string
	federation  map[string]string
	client      *http.Client
}

// setting reads NAME, or the file NAME_FROM_FILE names (its first line).
func setting(name string) string {
	if file := os.Getenv(name + "_FROM_FILE"); file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			log.Fatalf("%s_FROM_FILE: %v", name, err)
		}
		return strings.TrimSpace(string(data))
	}
	return os.Getenv(name)
}

func pairs(text string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(text, ",") {
		if name, value, ok := strings.Cut(strings.TrimSpace(pair), "="); ok {
			out[name] = value
		}
	}
	return out
}

// hashName: unpadded base64 of SHA-256 over the JSON of parts, how the service names rooms and members.
func hashName(parts ...string) string {
	data, _ := json.Marshal(parts)
	sum := sha256.Sum256(data)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// token is a LiveKit access token (HS256 JWT) for identity with the given video grant.
func (c *config) token(identity string, video map[string]any, valid time.Duration) string {
	now := time.Now().Unix()
	part := func(v any) string {
		data, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	unsigned := part(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." +
		part(map[string]any{"iss": c.key, "sub": identity, "nbf": now, "exp": now + int64(valid.Seconds()), "video": video})
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// fields decodes body into exactly the named fields: an unknown one is refused, as the
// service's strict decoder does; a required one missing or empty is refused too.
func fields(body []byte, required, optional []string) (map[string]json.RawMessage, error) {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil || object == nil {
		return nil, &refusal{http.StatusBadRequest, "M_NOT_JSON", "Error reading request"}
	}
	for name := range object {
		if !slices.Contains(required, name) && !slices.Contains(optional, name) {
			return nil, &refusal{http.StatusBadRequest, "M_NOT_JSON", "Error reading request"}
		}
	}
	for _, name := range required {
		if value, ok := object[name]; !ok || string(value) == `""` || string(value) == "null" {
			return nil, &refusal{http.StatusBadRequest, "M_BAD_JSON", fmt.Sprintf("The request body is missing `%s`", name)}
		}
	}
	return object, nil
}

func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	return s
}

type openID struct{ accessToken, serverName string }

func openIDToken(raw json.RawMessage) (openID, error) {
	token, err := fields(raw, []string{"access_token", "matrix_server_name"}, []string{"token_type", "expires_in"})
	if err != nil {
		return openID{}, err
	}
	return openID{text(token["access_token"]), text(token["matrix_server_name"])}, nil
}

// federationBase is where a server's federation API answers.
func (c *config) federationBase(server string) string {
	if base, ok := c.federation[server]; ok {
		return base
	}
	reply, err := c.client.Get("https://" + server + "/.well-known/matrix/server")
	if err == nil {
		defer reply.Body.Close()
		var wellKnown struct {
			Server string `json:"m.server"`
		}
		if reply.StatusCode == http.StatusOK && json.NewDecoder(reply.Body).Decode(&wellKnown) == nil && wellKnown.Server != "" {
			return "https://" + wellKnown.Server
		}
	}
	return "https://" + server + ":8448"
}

// userOf is the Matrix user the homeserver vouches for.
func (c *config) userOf(token openID) (string, error) {
	target := c.federationBase(token.serverName) + "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token.accessToken)
	reply, err := c.client.Get(target)
	if err != nil {
		log.Printf("OpenID check at %s: %v", token.serverName, err)
		return "", unauthorized
	}
	defer reply.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	if reply.StatusCode != http.StatusOK || json.NewDecoder(reply.Body).Decode(&info) != nil || !strings.HasSuffix(info.Sub, ":"+token.serverName) {
		return "", unauthorized
	}
	return info.Sub, nil
}

func (c *config) grant(server, room, identity string) (map[string]string, error) {
	if slices.Contains(c.fullAccess, server) || slices.Contains(c.fullAccess, "*") {
		body, _ := json.Marshal(map[string]any{"name": room, "empty_timeout": 300, "departure_timeout": 20})
		request, _ := http.NewRequest(http.MethodPost, c.livekitAPI+"/twirp/livekit.RoomService/CreateRoom", bytes.NewReader(body))
		request.Header.Set("Authorization", "Bearer "+c.token("room-maker", map[string]any{"roomCreate": true}, time.Minute))
		request.Header.Set("Content-Type", "application/json")
		reply, err := c.client.Do(request)
		if err != nil || reply.StatusCode != http.StatusOK {
			if err == nil {
				reply.Body.Close()
				err = errors.New(reply.Status)
			}
			log.Printf("creating room %s: %v", room, err)
			return nil, &refusal{http.StatusInternalServerError, "M_UNKNOWN", "Unable to create room on SFU"}
		}
		reply.Body.Close()
	}
	jwt := c.token(identity, map[string]any{"room": room, "roomJoin": true, "roomCreate": false, "canPublish": true, "canSubscribe": true}, time.Hour)
	return map[string]string{"url": c.livekitURL, "jwt": jwt}, nil
}

func (c *config) sfuGet(body []byte) (map[string]string, error) {
	request, err := fields(body, []string{"room", "openid_token", "device_id"}, nil)
	if err != nil {
		return nil, err
	}
	token, err := openIDToken(request["openid_token"])
	if err != nil {
		return nil, err
	}
	user, err := c.userOf(token)
	if err != nil {
		return nil, err
	}
	return c.grant(token.serverName, hashName(text(request["room"]), "m.call#ROOM"), user+":"+text(request["device_id"]))
}

func (c *config) getToken(body []byte) (map[string]string, error) {
	request, err := fields(body, []string{"room_id", "slot_id", "openid_token", "member"}, []string{"delay_id", "delay_timeout", "delay_cs_api_url"})
	if err != nil {
		return nil, err
	}
	token, err := openIDToken(request["openid_token"])
	if err != nil {
		return nil, err
	}
	member, err := fields(request["member"], []string{"id", "claimed_user_id", "claimed_device_id"}, nil)
	if err != nil {
		return nil, err
	}
	user, err := c.userOf(token)
	if err != nil {
		return nil, err
	}
	if text(member["claimed_user_id"]) != user {
		return nil, unauthorized
	}
	return c.grant(token.serverName, hashName(text(request["room_id"]), text(request["slot_id"])),
		hashName(user, text(member["claimed_device_id"]), text(member["id"])))
}

func answer(w http.ResponseWriter, status int, body any) {
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (c *config) route(handle func([]byte) (map[string]string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token")
		switch r.Method {
		case http.MethodOptions:
			answer(w, http.StatusOK, nil)
			return
		case http.MethodPost:
		default:
			answer(w, http.StatusMethodNotAllowed, nil)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"errcode": "M_NOT_JSON", "error": "Error reading request"})
			return
		}
		reply, err := handle(body)
		var refused *refusal
		switch {
		case err == nil:
			answer(w, http.StatusOK, reply)
		case errors.As(err, &refused):
			answer(w, refused.status, map[string]string{"errcode": refused.errcode, "error": refused.message})
		default:
			answer(w, http.StatusInternalServerError, map[string]string{"errcode": "M_UNKNOWN", "error": "Internal Server Error"})
		}
	}
}

func main() {
	c := &config{
		livekitURL: os.Getenv("LIVEKIT_URL"),
		key:        setting("LIVEKIT_KEY"),
		secret:     setting("LIVEKIT_SECRET"),
		federation: pairs(os.Getenv("STAND_IN_FEDERATION_OVERRIDES")),
		client:     &http.Client{Timeout: 10 * time.Second},
	}
	for _, server := range strings.Split(os.Getenv("LIVEKIT_FULL_ACCESS_HOMESERVERS"), ",") {
		if server = strings.TrimSpace(server); server != "" {
			c.fullAccess = append(c.fullAccess, server)
		}
	}
	if c.livekitURL == "" || c.key == "" || c.secret == "" || len(c.fullAccess) == 0 {
		log.Fatal("LIVEKIT_URL, LIVEKIT_KEY, LIVEKIT_SECRET and LIVEKIT_FULL_ACCESS_HOMESERVERS must be set")
	}
	// The SFU's server API is at the same place as its signalling, over HTTP(S).
	c.livekitAPI = strings.TrimSuffix(strings.Replace(strings.Replace(c.livekitURL, "wss://", "https://", 1), "ws://", "http://", 1), "/")
	bind := os.Getenv("LIVEKIT_JWT_BIND")
	if bind == "" {
		bind = ":8080"
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			answer(w, http.StatusMethodNotAllowed, nil)
			return
		}
		answer(w, http.StatusOK, nil)
	})
	mux.Handle("/sfu/get", c.route(c.sfuGet))
	mux.Handle("/get_token", c.route(c.getToken))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusNotFound, map[string]string{"errcode": "M_NOT_FOUND", "error": "Not found"})
	})
	log.Printf("listening on %s for %s", bind, c.livekitURL)
	server := &http.Server{Addr: bind, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(server.ListenAndServe())
}
