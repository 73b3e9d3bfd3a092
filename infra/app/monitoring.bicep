// Log Analytics workspace + workspace-based Application Insights.
// Local (key) authentication is disabled on both: telemetry is accepted only from an Entra
// identity (the app sends it with APPLICATIONINSIGHTS_AUTHENTICATION_STRING and needs
// 'Monitoring Metrics Publisher', granted in rbac.bicep).

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@minValue(30)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
  }
}

output logAnalyticsWorkspaceId string = logAnalytics.id
output applicationInsightsName string = applicationInsights.name
// The connection string identifies the resource and its ingestion endpoint. It is not a
// credential: with DisableLocalAuth above, ingestion also requires an Entra token.
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
