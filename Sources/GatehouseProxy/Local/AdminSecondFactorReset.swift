import GatehouseSessions

/// `POST /admin/users/{user}/second-factor/reset` on the admin listener: the recovery for a lost phone.
///
/// The TOTP secret lives in the users file, which the gateway never writes, so a reset here is what the gateway
/// itself holds: every session of the user ends (whoever held the phone is signed out), and the record of used
/// codes is cleared, so the codes of a new secret are not refused as replays. The operator then gives the user a
/// new secret (`gatehouse totp enroll USER`, into the users file) or removes `totp_secret`; the file's reload ends
/// the user's sessions again if any were made in between. Kept apart from the other admin endpoints (and in JSON)
/// so the admin HTML page can call it as it is.
enum AdminSecondFactorReset {
    /// Ends the sessions, then clears the ledger; answers `{"user", "signed_out", "second_factor_reset": true}`.
    static func run(user: String, store: any SessionStore, finish: @escaping (LocalResponse, String?) -> Void) {
        guard let ledger = store as? any SecondFactorLedger else {
            finish(.error(404, "not_found", description: "this session store keeps no second-factor state"),
                   "second-factor-no-ledger")
            return
        }
        store.deleteAll(of: user) { result in
            switch result {
            case .failure(let error):
                finish(.storeUnavailable, "session-store-\(error.reason)")
            case .success(let count):
                ledger.resetSecondFactor(user: user) { reset in
                    switch reset {
                    case .failure(let error):
                        finish(.storeUnavailable, "session-store-\(error.reason)")
                    case .success:
                        var body = JSONWriter()
                        body.beginObject()
                        body.member("user", user)
                        body.member("signed_out", Int64(count))
                        body.member("second_factor_reset", true)
                        body.endObject()
                        finish(.json(200, body), nil)
                    }
                }
            }
        }
    }
}
