// Key Vault of the tenant keys: one RSA key per tenant (tenant-<id>-<suffix>), created,
// rotated and deleted by the app; wrap/unwrap happens inside the vault.
//
// - Azure RBAC only (no access policies); the app identity's roles are in rbac.bicep.
//   No human gets a data-plane role here.
// - Soft delete 90 days + purge protection: a deleted key (and everything it wraps) can be
//   recovered for 90 days and nobody, not even an owner, can purge it earlier.
// - sku 'premium' allows HSM-protected keys; the app must then ask for RSA-HSM keys.
// - The only secrets are the optional S3 backup credentials, referenced from app settings
//   as @Microsoft.KeyVault(SecretUri=...) and readable only by the app identity.

param name string
param location string
param tags object = {}

@allowed([
  'standard'
  'premium'
])
param sku string = 'standard'

@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

param logAnalyticsWorkspaceId string

param backupS3Enabled bool = false
param backupS3AccessKeyIdSecretName string
param backupS3SecretAccessKeySecretName string

@secure()
param backupS3AccessKeyId string = ''

@secure()
param backupS3SecretAccessKey string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: sku
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'None'
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
  }
}

// Written only when a value is supplied, so a later `azd provision` without the values
// keeps the secrets already in the vault (rotate them by supplying new values).
resource s3AccessKeyIdSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (backupS3Enabled && !empty(backupS3AccessKeyId)) {
  parent: vault
  name: backupS3AccessKeyIdSecretName
  properties: {
    value: backupS3AccessKeyId
    contentType: 'text/plain'
  }
}

resource s3SecretAccessKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (backupS3Enabled && !empty(backupS3SecretAccessKey)) {
  parent: vault
  name: backupS3SecretAccessKeySecretName
  properties: {
    value: backupS3SecretAccessKey
    contentType: 'text/plain'
  }
}

// Audit every key and secret operation to Log Analytics.
resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
// Names only (never values): rbac.bicep scopes 'Key Vault Secrets User' to exactly these.
output backupS3SecretNames array = backupS3Enabled ? [
  backupS3AccessKeyIdSecretName
  backupS3SecretAccessKeySecretName
] : []
