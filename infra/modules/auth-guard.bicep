// Who is calling (docs/security.md): HTTP_AUTH_MODE=entra, the default, puts App Service Authentication in
// front of the routes for the app registration AUTH_CLIENT_ID. Deployed only in that mode, this module fails the
// deployment when AUTH_CLIENT_ID is missing or not a client id, before the Function App is written (main.bicep:
// the app module depends on it), instead of deploying routes nobody can call, or open ones.
@description('AUTH_CLIENT_ID: client id (GUID) of the app registration with the app roles of infra/app-roles.json; required with HTTP_AUTH_MODE=entra, the default (set HTTP_AUTH_MODE=function-key only on purpose: docs/security.md).')
@minLength(36)
@maxLength(36)
param authClientId string

output clientId string = authClientId
