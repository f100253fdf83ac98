import Crypto

/// The Lua scripts of the Redis store. Each store call is one script run atomically by Redis (`EVALSHA`, with
/// `EVAL` when Redis answers `NOSCRIPT`, e.g. after a restart), so two gateways that act on one user at the same
/// moment see each other's effects whole: max_per_user holds across gateways, and of two presentations of one
/// refresh token exactly one rotates.
///
/// Every script gets the key prefix as `ARGV[1]` and builds key names with it (layout in `RedisKeys`); `KEYS`
/// carries the main key too. Times are Unix seconds from the gateway (`ARGV[2]` = now), so a gateway's `now`
/// decides liveness exactly as in the embedded store; TTLs are relative to that `now`.
///
/// Results are arrays whose first element says what happened; a refusal is `{'err', reason}` rather than a Redis
/// error reply, so store reasons (`user-disabled`, `duplicate-session`) reach callers unchanged.
struct RedisScript: Sendable {
    let name: String
    let source: [UInt8]
    /// Lowercase hex SHA-1, the name `EVALSHA` knows the script by.
    let sha: [UInt8]

    init(name: String, body: String) {
        self.name = name
        let text = RedisScript.prelude + body
        source = Array(text.utf8)
        let digest = Insecure.SHA1.hash(data: source)
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in digest {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xf)])
        }
        sha = hex
    }

    /// Helpers shared by every script.
    static let prelude = """
        local P = ARGV[1]
        local function skey(id) return P .. 's:' .. id end
        local function tohash(flat)
          local t = {}
          for j = 1, #flat, 2 do t[flat[j]] = flat[j + 1] end
          return t
        end
        local function ends(x, l, i)
          if i > 0 and l + i < x then return l + i end
          return x
        end
        local function live(x, l, i, now)
          if not x or not l or not i then return false end
          if now >= x then return false end
          if i > 0 and now - l >= i then return false end
          return true
        end
        local function ms(seconds)
          if seconds < 1 then seconds = 1 end
          return seconds * 1000
        end
        -- Removes session id and what points at it (a session that expired or is being ended).
        local function drop(id, h, u, r)
          redis.call('DEL', skey(id))
          if h and redis.call('GET', P .. 'h:' .. h) == id then redis.call('DEL', P .. 'h:' .. h) end
          if r and r ~= '' and redis.call('GET', P .. 'rt:' .. r) == id then redis.call('DEL', P .. 'rt:' .. r) end
          if u then redis.call('ZREM', P .. 'u:' .. u, id) end
        end
        -- Ends session id on purpose: a token session's handle is refused until untilT on every gateway, and
        -- every gateway's workers drop it from their caches.
        local function finish(id, h, k, u, r, now, untilT)
          drop(id, h, u, r)
          if k == 'token' and h then
            local rk = P .. 'revoked'
            local old = redis.call('ZSCORE', rk, h)
            if not old or tonumber(old) < untilT then redis.call('ZADD', rk, untilT, h) end
            redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
            if redis.call('TTL', rk) < untilT - now then redis.call('EXPIRE', rk, math.max(untilT - now, 1)) end
          end
          redis.call('PUBLISH', P .. 'events',
            'end ' .. (k or '') .. ' ' .. id .. ' ' .. untilT .. ' ' .. (h or '') .. ' ' .. (u or ''))
        end
        -- Ends every session of user (the embedded store's endAll): {live count, kind, id, handle, ...}.
        local function finishAll(user, now, untilT)
          local uk = P .. 'u:' .. user
          local out = {0}
          local count = 0
          for _, m in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
            local v = redis.call('HMGET', skey(m), 'h', 'k', 'u', 'r', 'x', 'l', 'i')
            if v[1] then
              if live(tonumber(v[5]), tonumber(v[6]), tonumber(v[7]), now) then count = count + 1 end
              finish(m, v[1], v[2], v[3], v[4], now, untilT)
              out[#out + 1] = v[2]
              out[#out + 1] = m
              out[#out + 1] = v[1]
            end
          end
          redis.call('DEL', uk)
          out[1] = count
          return out
        end

        """

    /// KEYS[1] = P s:<id>. ARGV: P, now, write interval, id. The hot path: the cookie session's hash, or nil.
    /// Slides `l` (and the TTL) when it is `write interval` old, or a quarter of the idle timeout when that is
    /// shorter (`RedisSessionStore.lastSeenWriteInterval(idleTimeout:)`); drops a session found expired.
    static let fetch = RedisScript(name: "fetch", body: """
        local now, every, id = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
        local flat = redis.call('HGETALL', KEYS[1])
        if #flat == 0 then return false end
        local s = tohash(flat)
        if s.k ~= 'cookie' then return false end
        local x, l, i = tonumber(s.x), tonumber(s.l), tonumber(s.i)
        if i and i > 0 then every = math.min(every, math.floor(i / 4)) end
        if not live(x, l, i, now) then
          drop(id, s.h, s.u, s.r)
          return false
        end
        if now - l >= every then
          redis.call('HSET', KEYS[1], 'l', ARGV[2])
          redis.call('PEXPIRE', KEYS[1], ms(ends(x, now, i) - now))
          for j = 1, #flat, 2 do
            if flat[j] == 'l' then flat[j + 1] = ARGV[2] end
          end
        end
        return flat
        """)

    /// KEYS[1] = P s:<id>. ARGV: P, now, max per user, until, id, then the hash's field/value pairs.
    /// {'ok', kind, id, handle, ...} for each session max_per_user ended, or {'err', reason}.
    static let create = RedisScript(name: "create", body: """
        local now, max, untilT, id = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
        local fields = {}
        for j = 6, #ARGV do fields[#fields + 1] = ARGV[j] end
        local s = tohash(fields)
        if redis.call('SISMEMBER', P .. 'disabled', s.u) == 1 then return {'err', 'user-disabled'} end
        local function known(k)
          return redis.call('EXISTS', skey(k), P .. 'rt:' .. k, P .. 'rs:' .. k) > 0
        end
        local taken = known(id)
        if not taken then
          local other = redis.call('GET', P .. 'h:' .. s.h)
          if other and redis.call('EXISTS', skey(other)) == 1 then taken = true end
        end
        if not taken and s.r and known(s.r) then taken = true end
        if taken then return {'err', 'duplicate-session'} end

        local x, l, i, c = tonumber(s.x), tonumber(s.l), tonumber(s.i), tonumber(s.c)
        fields[#fields + 1] = 'q'
        fields[#fields + 1] = redis.call('INCR', P .. 'seq')
        redis.call('HSET', KEYS[1], unpack(fields))
        redis.call('PEXPIRE', KEYS[1], ms(ends(x, l, i) - now))
        local life = ms(x - now)
        redis.call('SET', P .. 'h:' .. s.h, id, 'PX', life)
        if s.r then redis.call('SET', P .. 'rt:' .. s.r, id, 'PX', life) end
        local uk = P .. 'u:' .. s.u
        redis.call('ZADD', uk, c, id)
        if redis.call('PTTL', uk) < life then redis.call('PEXPIRE', uk, life) end
        if s.op and s.ob then
          local ik = {P .. 'pb:' .. s.op .. ':' .. s.ob}
          if s.os then ik[2] = P .. 'ps:' .. s.op .. ':' .. s.os end
          for _, k in ipairs(ik) do
            redis.call('SADD', k, id)
            if redis.call('PTTL', k) < life then redis.call('PEXPIRE', k, life) end
          end
        end

        local out = {'ok'}
        if max > 0 then
          local list = {}
          for _, m in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
            local v = redis.call('HMGET', skey(m), 'c', 'q', 'x', 'l', 'i', 'k', 'h', 'r')
            if not v[1] then
              redis.call('ZREM', uk, m)
            elseif not live(tonumber(v[3]), tonumber(v[4]), tonumber(v[5]), now) then
              drop(m, v[7], s.u, v[8])
            else
              list[#list + 1] = {m, tonumber(v[1]), tonumber(v[2]) or 0, v[6], v[7], v[8]}
            end
          end
          if #list > max then
            table.sort(list, function(a, b)
              if a[2] ~= b[2] then return a[2] < b[2] end
              return a[3] < b[3]
            end)
            local n = #list - max
            for _, e in ipairs(list) do
              if n == 0 then break end
              if e[1] ~= id then
                finish(e[1], e[5], e[4], s.u, e[6], now, untilT)
                out[#out + 1] = e[4]
                out[#out + 1] = e[1]
                out[#out + 1] = e[5]
                n = n - 1
              end
            end
          end
        end
        return out
        """)

    /// KEYS[1] = P s:<id>. ARGV: P, now, until, id. {1, kind, id, handle} or {0}.
    static let deleteKey = RedisScript(name: "delete", body: """
        local id = ARGV[4]
        local v = redis.call('HMGET', KEYS[1], 'h', 'k', 'u', 'r')
        if not v[1] then return {0} end
        finish(id, v[1], v[2], v[3], v[4], tonumber(ARGV[2]), tonumber(ARGV[3]))
        return {1, v[2], id, v[1]}
        """)

    /// KEYS[1] = P h:<handle>. ARGV: P, now, until, user. Only the owner's session ends. {1, kind, id, handle}
    /// or {0}.
    static let deleteHandle = RedisScript(name: "delete-handle", body: """
        local id = redis.call('GET', KEYS[1])
        if not id then return {0} end
        local v = redis.call('HMGET', skey(id), 'h', 'k', 'u', 'r')
        if not v[1] or v[3] ~= ARGV[4] then return {0} end
        finish(id, v[1], v[2], v[3], v[4], tonumber(ARGV[2]), tonumber(ARGV[3]))
        return {1, v[2], id, v[1]}
        """)

    /// KEYS[1] = P u:<user>. ARGV: P. {id, {field, value, ...}, ...} for every session still stored (liveness,
    /// which depends on the caller's now, and the order are decided by the caller).
    static let list = RedisScript(name: "list", body: """
        local out = {}
        for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          local flat = redis.call('HGETALL', skey(m))
          if #flat == 0 then
            redis.call('ZREM', KEYS[1], m)
          else
            out[#out + 1] = m
            out[#out + 1] = flat
          end
        end
        return out
        """)

    /// KEYS[1] = P u:<first user>. ARGV: P, now, user, user, ... (one `SCAN` batch of the admin page's user list).
    /// {user, live sessions, latest last seen, ...} for each user with a live session; members whose hash
    /// expired are removed from the user's set, as `list` does.
    static let summarize = RedisScript(name: "summarize", body: """
        local now = tonumber(ARGV[2])
        local out = {}
        for j = 3, #ARGV do
          local user = ARGV[j]
          local uk = P .. 'u:' .. user
          local count, last = 0, 0
          for _, m in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
            local v = redis.call('HMGET', skey(m), 'x', 'l', 'i')
            if not v[1] then
              redis.call('ZREM', uk, m)
            else
              local x, l, i = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
              if live(x, l, i, now) then
                count = count + 1
                if l > last then last = l end
              end
            end
          end
          if count > 0 then
            out[#out + 1] = user
            out[#out + 1] = count
            out[#out + 1] = last
          end
        end
        return out
        """)

    /// KEYS[1] = P u:<user>. ARGV: P, now, until, user, mode ('all' | 'disable' | 'enable').
    /// {live sessions ended, kind, id, handle, ...}.
    static let endAll = RedisScript(name: "end-all", body: """
        local now, untilT, user, mode = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
        if mode == 'enable' then
          redis.call('SREM', P .. 'disabled', user)
          return {0}
        end
        if mode == 'disable' then redis.call('SADD', P .. 'disabled', user) end
        return finishAll(user, now, untilT)
        """)

    /// KEYS[1] = P rt:<presented>. ARGV: P, now, until, presented, next.
    /// {'rotated', id, {field, value, ...}} | {'reused', kind, id, handle, user} | {'invalid'} | {'err', reason}.
    static let rotate = RedisScript(name: "rotate", body: """
        local now, untilT, old, new = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
        local id = redis.call('GET', KEYS[1])
        if id then
          local flat = redis.call('HGETALL', skey(id))
          local s = tohash(flat)
          if #flat > 0 and s.k == 'token' then
            local x, l, i = tonumber(s.x), tonumber(s.l), tonumber(s.i)
            if not live(x, l, i, now) then
              drop(id, s.h, s.u, s.r)
              return {'invalid'}
            end
            if redis.call('EXISTS', skey(new), P .. 'rt:' .. new, P .. 'rs:' .. new) > 0 then
              return {'err', 'refresh-key-collision'}
            end
            if now > l then l = now end
            redis.call('HSET', skey(id), 'r', new, 'l', l)
            redis.call('PEXPIRE', skey(id), ms(ends(x, l, i) - now))
            local life = ms(x - now)
            redis.call('DEL', KEYS[1])
            redis.call('SET', P .. 'rt:' .. new, id, 'PX', life)
            redis.call('SET', P .. 'rs:' .. old, id, 'PX', life)
            return {'rotated', id, redis.call('HGETALL', skey(id))}
          end
        end
        local spent = redis.call('GET', P .. 'rs:' .. old)
        if spent then
          local v = redis.call('HMGET', skey(spent), 'h', 'k', 'u', 'r')
          if v[1] then
            finish(spent, v[1], v[2], v[3], v[4], now, untilT)
            return {'reused', v[2], spent, v[1], v[3]}
          end
        end
        return {'invalid'}
        """)

    /// KEYS[1] = P ps:<provider>:<sid> (or P pb:<provider>:<sub> when there is no sid). ARGV: P, now, until,
    /// provider, sid ('' = any), sub ('' = any), the logout token's key (P lt:...), its replay deadline.
    /// Takes the logout token (`SET NX`; {'replayed'} when taken before), then ends every indexed session of that
    /// provider matching both; members whose session is gone or ended leave the index.
    /// {ended, kind, id, handle, ...} | {'replayed'}.
    static let endProvider = RedisScript(name: "end-provider", body: """
        local now, untilT, prov, sid, sub = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
        if not redis.call('SET', ARGV[7], '1', 'NX', 'PX', ms(tonumber(ARGV[8]) - now)) then return {'replayed'} end
        local out = {0}
        local count = 0
        for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local v = redis.call('HMGET', skey(m), 'h', 'k', 'u', 'r', 'op', 'os', 'ob')
          if not v[1] then
            redis.call('SREM', KEYS[1], m)
          elseif v[5] == prov and (sid == '' or v[6] == sid) and (sub == '' or v[7] == sub) then
            finish(m, v[1], v[2], v[3], v[4], now, untilT)
            redis.call('SREM', KEYS[1], m)
            count = count + 1
            out[#out + 1] = v[2]
            out[#out + 1] = m
            out[#out + 1] = v[1]
          end
        end
        out[1] = count
        return out
        """)

    /// KEYS[1] = P tf:a:<address>. ARGV: P, now, mode, max failures, window (s), user.
    /// The shared sign-in throttle (`SharedSignInThrottle`): per key a list of attempt times, newest first, at
    /// most `max` long, expiring `window` after the newest. `reserve`: {wait} when the address or the user
    /// already has `max` attempts within the window (wait = seconds until the oldest of them leaves it), else
    /// counts this attempt against both at once and answers {0}, so concurrent guesses on any number of
    /// gateways can never pass the limit together. `release` (a successful sign-in): takes the attempt back
    /// from the address and clears the user's count, as the local throttle does; `cancel` (never attempted: the
    /// hashing pool was full) takes it back from both. {0}.
    static let throttle = RedisScript(name: "throttle", body: """
        local now, mode, max, window = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
        local ukey = P .. 'tf:u:' .. ARGV[6]
        if mode == 'release' or mode == 'cancel' then
          redis.call('LREM', KEYS[1], 1, ARGV[2])
          if mode == 'release' then redis.call('DEL', ukey) else redis.call('LREM', ukey, 1, ARGV[2]) end
          return {0}
        end
        local wait = 0
        for _, k in ipairs({KEYS[1], ukey}) do
          if redis.call('LLEN', k) >= max then
            local oldest = tonumber(redis.call('LINDEX', k, max - 1))
            local left = oldest and (oldest + window - now) or 0
            if left > window then left = window end
            if left > wait then wait = left end
          end
        end
        if wait > 0 then return {wait} end
        for _, k in ipairs({KEYS[1], ukey}) do
          redis.call('LPUSH', k, ARGV[2])
          redis.call('LTRIM', k, 0, max - 1)
          redis.call('PEXPIRE', k, window * 1000)
        end
        return {0}
        """)

    /// `KEYS[1]` = `P tf2:<user>`: the user's last accepted TOTP step. `ARGV`: prefix, step, pending nonce,
    /// seconds the nonce stays spent. Refuses a step at or before the last one, or a spent nonce; otherwise records
    /// both, in one atomic run (two gateways presented one code: exactly one accepts it).
    static let secondFactor = RedisScript(name: "second-factor", body: """
        local step = tonumber(ARGV[2])
        local last = tonumber(redis.call('GET', KEYS[1]) or '')
        if last and step <= last then return {'replayed'} end
        local pkey = P .. 'tf2p:' .. ARGV[3]
        if redis.call('EXISTS', pkey) == 1 then return {'spent'} end
        redis.call('SET', KEYS[1], ARGV[2], 'EX', 600)
        redis.call('SET', pkey, '1', 'EX', math.max(1, tonumber(ARGV[4])))
        return {'accepted'}
        """)

    /// Forgets the user's last accepted TOTP step (`KEYS[1]` = `P tf2:<user>`).
    static let resetSecondFactor = RedisScript(name: "second-factor-reset", body: """
        redis.call('DEL', KEYS[1])
        return {'ok'}
        """)
}
