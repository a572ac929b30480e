"""moto's server with IAM enforcement, plus two rules of AWS Secrets Manager that moto lacks.

    INITIAL_NO_AUTH_ACTION_COUNT=N python moto_iam.py PORT

The first N requests go unchecked (the IAM set-up of a test); every later request is
authenticated and authorized against the caller's IAM policies by moto, with:

- CreateSecret with Tags authorized for secretsmanager:TagResource as well, as AWS does
  ("If you include tags in the secret, you also need secretsmanager:TagResource");
- Secrets Manager requests authorized against the secret's ARN
  (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) instead of "*", so a policy's Resource
  is checked. AWS appends six random characters to the ARN; a Resource that ends in `*`
  matches both.

Used by tests/aws_policy.rs, which holds the documented seeding policy against what `seed`
calls. Serves on 127.0.0.1 only.
"""

import json
import sys

from moto.secretsmanager.responses import SecretsManagerResponse
from moto.server import main


def _params(response):
    try:
        params = json.loads(response.body or "{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _determine_resource(self):
    name = _params(self).get("SecretId") or _params(self).get("Name")
    if not isinstance(name, str) or not name:
        return "*"
    if name.startswith("arn:"):
        return name
    return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{name}"


_authorize = SecretsManagerResponse._authenticate_and_authorize_normal_action


def _authorize_with_tags(self, resource="*"):
    _authorize(self, resource)
    if self._get_action() == "CreateSecret" and _params(self).get("Tags"):
        # The same request, authorized once more as TagResource (moto names the action it
        # refuses after _get_action).
        self._get_action = lambda: "TagResource"
        try:
            _authorize(self, resource)
        finally:
            del self._get_action


SecretsManagerResponse._determine_resource = _determine_resource
SecretsManagerResponse._authenticate_and_authorize_normal_action = _authorize_with_tags

if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: INITIAL_NO_AUTH_ACTION_COUNT=N moto_iam.py PORT")
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
