//! The five operations of the API and their rights rules (see the table
//! in the module above). Rights are checked before the database is asked,
//! so a refused caller learns nothing about other accounts.

use http::StatusCode;

use super::db::{self, Change, DbError};
use super::input::{self, Fields};
use super::output::{self, ApiError, Format};
use super::{Caller, Mngt, USERS_GROUP};
use crate::pipeline::Response;

impl Mngt {
    pub(super) async fn list(
        &self,
        caller: &Caller,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, ApiError> {
        if !caller.root {
            return Err(ApiError::denied("listing users is for the root group"));
        }
        let issuer = self.issuer.clone();
        let all = self
            .db(move |c| db::list(c, &issuer).map_err(DbError::from))
            .await?;
        Ok(output::list(fmt, &all, satisfied))
    }

    pub(super) async fn show(
        &self,
        caller: &Caller,
        name: &str,
        fields: &Fields,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, ApiError> {
        only_user(fields, "GET")?;
        if !caller.owns(name) {
            return Err(ApiError::denied("only the user himself or the root group"));
        }
        let (n, issuer) = (name.to_string(), self.issuer.clone());
        let rec = self
            .db(move |c| db::show(c, &n, &issuer)?.ok_or(DbError::NotFound))
            .await?;
        Ok(output::record(fmt, StatusCode::OK, &rec, false, satisfied))
    }

    pub(super) async fn create(
        &self,
        caller: &Caller,
        name: &str,
        mut fields: Fields,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, ApiError> {
        if name.is_empty() {
            return Err(ApiError::bad("a new account needs `user`"));
        }
        input::name("user", name).map_err(|b| ApiError::bad(b.message))?;
        let Some(passwd) = fields.passwd.take() else {
            return Err(ApiError::bad("a new account needs `passwd`"));
        };
        if !caller.root {
            if fields.home.is_some() || fields.status.is_some() {
                return Err(ApiError::denied(
                    "only the root group sets the home or status of an account",
                ));
            }
            // Ouistiti turns a requested `root` into `users`; here every
            // group a caller outside the root group asks for does.
            fields.group = Some(USERS_GROUP.to_string());
        }
        let mut change = changes(fields);
        change.passwd = Some(self.hash(name, passwd).await?);
        let (n, issuer) = (name.to_string(), self.issuer.clone());
        let rec = self
            .db(move |c| db::create(c, &n, &change, &issuer))
            .await?;
        log::info!(
            "auth: management: {} created {name} ({})",
            caller.who(),
            rec.status
        );
        Ok(output::record(
            fmt,
            StatusCode::CREATED,
            &rec,
            true,
            satisfied,
        ))
    }

    pub(super) async fn update(
        &self,
        caller: &Caller,
        name: &str,
        mut fields: Fields,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, ApiError> {
        if name.is_empty() {
            return Err(ApiError::bad("name the user: POST /auth/mngt/<user>"));
        }
        if !caller.owns(name) {
            return Err(ApiError::denied("only the user himself or the root group"));
        }
        if !caller.root && fields.has_root_only() {
            return Err(ApiError::denied(
                "only the root group changes group, home or status",
            ));
        }
        if !fields.has_changes() {
            return Err(ApiError::bad(
                "nothing to change (passwd, group, home, status, issuers)",
            ));
        }
        let passwd = fields.passwd.take();
        let mut change = changes(fields);
        if let Some(p) = passwd {
            change.passwd = Some(self.hash(name, p).await?);
        }
        let changed = change.passwd.is_some();
        let (n, issuer) = (name.to_string(), self.issuer.clone());
        let rec = self
            .db(move |c| db::update(c, &n, &change, &issuer))
            .await?;
        log::info!("auth: management: {} changed {name}", caller.who());
        Ok(output::record(
            fmt,
            StatusCode::OK,
            &rec,
            changed,
            satisfied,
        ))
    }

    pub(super) async fn delete(
        &self,
        caller: &Caller,
        name: &str,
        fields: &Fields,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, ApiError> {
        only_user(fields, "DELETE")?;
        if name.is_empty() {
            return Err(ApiError::bad("name the user: DELETE /auth/mngt/<user>"));
        }
        if !caller.owns(name) {
            return Err(ApiError::denied("only the user himself or the root group"));
        }
        let (n, issuer) = (name.to_string(), self.issuer.clone());
        let rec = self.db(move |c| db::delete(c, &n, &issuer)).await?;
        log::info!("auth: management: {} deleted {name}", caller.who());
        Ok(output::record(fmt, StatusCode::OK, &rec, false, satisfied))
    }
}

fn only_user(fields: &Fields, method: &str) -> Result<(), ApiError> {
    if fields.has_changes() {
        return Err(ApiError::bad(format!(
            "{method} takes no fields besides `user`"
        )));
    }
    Ok(())
}

fn changes(f: Fields) -> Change {
    Change {
        passwd: None,
        group: f.group,
        home: f.home,
        status: f.status,
        issuers: f.issuers,
    }
}
