// Deployed to each TARGETS target's subscription when the restore drill is enabled (main.bicep fleetDrillGroups):
// the resource group its drills restore into (RESTORE_DRILL_RESOURCE_GROUP of the target's settings, else the
// deployment's), created there. A drill restores a server into the source server's subscription, so a target in
// another subscription needs a drill group of its own there; modules/drill.bicep then grants the drill role on it.
targetScope = 'subscription'

param name string
param location string
param tags object = {}

resource drillGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: name
  location: location
  tags: tags
}
