"""Forms of the login and first-run pages (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from appliance.users import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=63)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SetupForm(FlaskForm):
    setup_code = StringField(_l("Setup code"), validators=[DataRequired(), Length(max=40)])
    username = StringField(_l("Administrator username"),
                           validators=[DataRequired(), Length(min=2, max=63)])
    full_name = StringField(_l("Full name"), validators=[Length(max=120)])
    password = PasswordField(_l("Password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)])
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[DataRequired(), EqualTo("password",
                                                                _l("The passwords differ."))])
